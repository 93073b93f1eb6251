//! The server side of sockperf 3.x (`sockperf server`, over TCP with `--tcp` and over UDP, its
//! default), so sockperf's own client can measure both stacks.
//!
//! sockperf frames every message with a 14-byte header, all fields in network byte order:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | sequence number |
//! | 8 | 2 | flags: 1 = sent by a client, 2 = asks for a reply ("pong request"), 4 = warm-up |
//! | 10 | 4 | length of the whole message, header included |
//!
//! followed by `length - 14` payload bytes. The server ignores messages that do not carry the
//! client flag and warm-up messages; it answers a pong request by sending the same message back
//! with the client flag cleared (sequence number, length and payload unchanged). Messages
//! without the pong flag (throughput mode, or the unreplied messages of `under-load` mode) are
//! only counted. A length shorter than the header or larger than the largest message sockperf
//! sends is a broken stream: sockperf gives up on that connection too.
//!
//! Over UDP one datagram carries exactly one message ([`UdpServer`]): the length field must
//! equal the datagram's length. A datagram that disagrees (truncated, padded, or a length below
//! the header) is counted as malformed and dropped; there is no stream to break.

use super::{Protocol, OUT_LIMIT};

/// Header length in bytes.
pub const HEADER_LEN: usize = 14;
/// Flag: the message comes from a client.
pub const FLAG_CLIENT: u16 = 1;
/// Flag: the client wants the message back.
pub const FLAG_PONG_REQUEST: u16 = 2;
/// Flag: a warm-up message, not measured and not answered.
pub const FLAG_WARMUP: u16 = 4;
/// Largest message accepted. sockperf's own limit is its `--msg-size` maximum (64 KiB for its
/// default buffers); a little more leaves room for its larger configurations.
pub const MAX_MESSAGE: usize = 1 << 20;

mod field {
    use std::ops::Range;
    pub const FLAGS: Range<usize> = 8..10;
    pub const LENGTH: Range<usize> = 10..14;
}

/// The header of one sockperf message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub sequence: u64,
    pub flags: u16,
    /// Whole message length, header included.
    pub length: u32,
}

impl Header {
    /// Reads a header from the first [`HEADER_LEN`] bytes, `None` if there are fewer.
    pub fn parse(buf: &[u8]) -> Option<Header> {
        let h = buf.first_chunk::<HEADER_LEN>()?;
        let (seq, rest) = h.split_first_chunk::<8>()?;
        let (flags, length) = rest.split_first_chunk::<2>()?;
        let length = length.first_chunk::<4>()?;
        Some(Header {
            sequence: u64::from_be_bytes(*seq),
            flags: u16::from_be_bytes(*flags),
            length: u32::from_be_bytes(*length),
        })
    }

    /// Appends the header in wire format.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }
}

/// Server state of one sockperf connection.
#[derive(Debug, Default)]
pub struct Sockperf {
    received: u64,
    replied: u64,
    broken: bool,
}

impl Sockperf {
    /// Pong replies sent.
    pub fn replied(&self) -> u64 {
        self.replied
    }
}

impl Protocol for Sockperf {
    fn on_readable(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        let mut consumed = 0;
        while !self.broken && out.len() < OUT_LIMIT {
            let rest = &input[consumed..];
            let Some(header) = Header::parse(rest) else {
                break;
            };
            let len = header.length as usize;
            if !(HEADER_LEN..=MAX_MESSAGE).contains(&len) {
                self.broken = true;
                break;
            }
            let Some(message) = rest.get(..len) else {
                break;
            };
            consumed += len;
            if header.flags & FLAG_CLIENT == 0 || header.flags & FLAG_WARMUP != 0 {
                continue;
            }
            self.received += 1;
            if header.flags & FLAG_PONG_REQUEST != 0 {
                let start = out.len();
                out.extend_from_slice(message);
                let reply_flags = (header.flags & !FLAG_CLIENT).to_be_bytes();
                out[start + field::FLAGS.start..start + field::FLAGS.end]
                    .copy_from_slice(&reply_flags);
                debug_assert_eq!(
                    &out[start + field::LENGTH.start..start + field::LENGTH.end],
                    &header.length.to_be_bytes()
                );
                self.replied += 1;
            }
        }
        consumed
    }

    fn wants_close(&self) -> bool {
        self.broken
    }

    fn messages(&self) -> u64 {
        self.received
    }
}

/// The UDP server: answers one datagram at a time, with counters. Transports (kernel UDP
/// socket, the xdptcp stack's UDP API) own the socket; this only decides what to send back.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UdpServer {
    /// Client messages handled (warm-up and non-client messages excluded).
    pub received: u64,
    /// Pong replies produced.
    pub replied: u64,
    /// Datagrams whose header was missing or whose length field did not match the datagram.
    pub malformed: u64,
}

impl UdpServer {
    /// Handles one datagram. Returns true if `reply` now holds the answer to send back to the
    /// datagram's source (`reply` is cleared first and reused, so steady state allocates
    /// nothing).
    pub fn on_datagram(&mut self, datagram: &[u8], reply: &mut Vec<u8>) -> bool {
        reply.clear();
        let Some(header) = Header::parse(datagram) else {
            self.malformed += 1;
            return false;
        };
        let len = header.length as usize;
        if len < HEADER_LEN || len != datagram.len() {
            self.malformed += 1;
            return false;
        }
        if header.flags & FLAG_CLIENT == 0 || header.flags & FLAG_WARMUP != 0 {
            return false;
        }
        self.received += 1;
        if header.flags & FLAG_PONG_REQUEST == 0 {
            return false;
        }
        reply.extend_from_slice(datagram);
        if let Some(flags) = reply.get_mut(field::FLAGS) {
            flags.copy_from_slice(&(header.flags & !FLAG_CLIENT).to_be_bytes());
        }
        self.replied += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::drive_split;
    use proptest::prelude::*;

    fn message(sequence: u64, flags: u16, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        Header { sequence, flags, length: (HEADER_LEN + payload.len()) as u32 }.emit(&mut m);
        m.extend_from_slice(payload);
        m
    }

    #[test]
    fn pong_request_comes_back_with_client_flag_cleared() {
        let ping = message(7, FLAG_CLIENT | FLAG_PONG_REQUEST, b"abc");
        let mut s = Sockperf::default();
        let mut out = Vec::new();
        assert_eq!(s.on_readable(&ping, &mut out), ping.len());
        let h = Header::parse(&out).unwrap();
        assert_eq!(h, Header { sequence: 7, flags: FLAG_PONG_REQUEST, length: 17 });
        assert_eq!(&out[HEADER_LEN..], b"abc");
        // The exact wire bytes sockperf expects: same message, flags 0x0003 -> 0x0002.
        assert_eq!(&out[..HEADER_LEN], &[0, 0, 0, 0, 0, 0, 0, 7, 0, 2, 0, 0, 0, 17]);
    }

    #[test]
    fn throughput_warmup_and_server_messages_get_no_reply() {
        let mut input = message(1, FLAG_CLIENT, b"x");
        input.extend(message(2, FLAG_CLIENT | FLAG_PONG_REQUEST | FLAG_WARMUP, b"x"));
        input.extend(message(3, FLAG_PONG_REQUEST, b"x"));
        let mut s = Sockperf::default();
        let mut out = Vec::new();
        assert_eq!(s.on_readable(&input, &mut out), input.len());
        assert!(out.is_empty());
        assert_eq!(s.messages(), 1);
    }

    #[test]
    fn bad_length_closes() {
        for len in [0u32, 13, MAX_MESSAGE as u32 + 1] {
            let mut m = Vec::new();
            Header { sequence: 0, flags: FLAG_CLIENT, length: len }.emit(&mut m);
            let mut s = Sockperf::default();
            assert_eq!(s.on_readable(&m, &mut Vec::new()), 0);
            assert!(s.wants_close(), "length {len}");
        }
    }

    #[test]
    fn udp_pong_request_answered_with_client_flag_cleared() {
        let ping = message(9, FLAG_CLIENT | FLAG_PONG_REQUEST, b"hello");
        let mut s = UdpServer::default();
        let mut reply = Vec::new();
        assert!(s.on_datagram(&ping, &mut reply));
        assert_eq!(&reply[..HEADER_LEN], &[0, 0, 0, 0, 0, 0, 0, 9, 0, 2, 0, 0, 0, 19]);
        assert_eq!(&reply[HEADER_LEN..], b"hello");
        assert_eq!((s.received, s.replied, s.malformed), (1, 1, 0));
    }

    #[test]
    fn udp_warmup_throughput_and_server_messages_get_no_reply() {
        let mut s = UdpServer::default();
        let mut reply = vec![1, 2, 3];
        let warm = message(1, FLAG_CLIENT | FLAG_PONG_REQUEST | FLAG_WARMUP, b"x");
        assert!(!s.on_datagram(&warm, &mut reply));
        assert!(reply.is_empty());
        assert!(!s.on_datagram(&message(2, FLAG_CLIENT, b"x"), &mut reply));
        assert!(!s.on_datagram(&message(3, FLAG_PONG_REQUEST, b"x"), &mut reply));
        assert!(reply.is_empty());
        assert_eq!((s.received, s.replied, s.malformed), (1, 0, 0));
    }

    #[test]
    fn udp_bad_length_is_dropped_and_counted() {
        let good = message(4, FLAG_CLIENT | FLAG_PONG_REQUEST, b"abcd");
        let mut s = UdpServer::default();
        let mut reply = Vec::new();
        // Shorter than a header.
        assert!(!s.on_datagram(&good[..HEADER_LEN - 1], &mut reply));
        // Truncated: the length field promises more than arrived.
        assert!(!s.on_datagram(&good[..good.len() - 1], &mut reply));
        // Oversized datagram: trailing bytes beyond the length field.
        let mut padded = good.clone();
        padded.push(0);
        assert!(!s.on_datagram(&padded, &mut reply));
        // Length field below the header size, or zero.
        for len in [0u32, 13] {
            let mut m = Vec::new();
            Header { sequence: 0, flags: FLAG_CLIENT | FLAG_PONG_REQUEST, length: len }
                .emit(&mut m);
            assert!(!s.on_datagram(&m, &mut reply));
        }
        assert!(reply.is_empty());
        assert_eq!((s.received, s.replied, s.malformed), (0, 0, 5));
        // The well-formed one still works afterwards.
        assert!(s.on_datagram(&good, &mut reply));
        assert_eq!(reply.len(), good.len());
    }

    proptest! {
        #[test]
        fn udp_garbage_never_panics(input in prop::collection::vec(any::<u8>(), 0..100)) {
            let mut s = UdpServer::default();
            let mut reply = Vec::new();
            if s.on_datagram(&input, &mut reply) {
                prop_assert_eq!(reply.len(), input.len());
                prop_assert_eq!(s.replied, 1);
            } else {
                prop_assert!(reply.is_empty());
            }
        }

        #[test]
        fn ping_pong_under_any_split(pings in prop::collection::vec((any::<u64>(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..100)), 0..10),
                                     cuts in prop::collection::vec(any::<usize>(), 0..20)) {
            let mut input = Vec::new();
            let mut expected = Vec::new();
            for (seq, pong, payload) in &pings {
                let flags = FLAG_CLIENT | if *pong { FLAG_PONG_REQUEST } else { 0 };
                input.extend(message(*seq, flags, payload));
                if *pong { expected.extend(message(*seq, FLAG_PONG_REQUEST, payload)); }
            }
            let mut s = Sockperf::default();
            let (sent, closed) = drive_split(&mut s, &input, &cuts);
            prop_assert_eq!(sent, expected);
            prop_assert!(!closed);
            prop_assert_eq!(s.messages(), pings.len() as u64);
        }

        #[test]
        fn garbage_never_panics(input in prop::collection::vec(any::<u8>(), 0..200), cuts in prop::collection::vec(any::<usize>(), 0..10)) {
            let _ = drive_split(&mut Sockperf::default(), &input, &cuts);
        }
    }
}
