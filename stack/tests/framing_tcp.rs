#![cfg(feature = "sim")]
//! The framing library over the stack's own connections (`framing::read_tcp`), in the
//! simulator: messages of every size up to the maximum cross a lossy, reordering link and
//! come out exactly as sent, in order, most of them framed in place in the receive chunks and
//! only those that straddle two chunks copied; a message over the maximum, or a garbled
//! length, aborts the connection with a counted error.

use std::net::Ipv4Addr;

use xdptcp_stack::framing::{
    read_tcp, FrameError, FrameReader, LengthPrefixed, Prefix, TcpFramingError,
};
use xdptcp_stack::sim::*;
use xdptcp_stack::stack::{StackEvent, TcpHandle};
use xdptcp_stack::tcp::State;
use xdptcp_stack::time::Duration;

const PORT: u16 = 7001;
const MAX: usize = 20_000;

/// A connected pair over `link`: (pair, A's handle, B's accepted handle).
fn connected(link: LinkConfig, seed: u64) -> (Pair, TcpHandle, TcpHandle) {
    let mut p = Pair::with_link(link, seed);
    p.b.tcp_listen(Ipv4Addr::UNSPECIFIED, PORT, 4).unwrap();
    let c = p.a.tcp_connect(p.now, ADDR_B, PORT).unwrap();
    let mut s = None;
    let limit = p.now + Duration::from_secs(10);
    let ok = p.drive(limit, |p| {
        while let Some(ev) = p.b.poll_event() {
            if let StackEvent::Acceptable(l) = ev {
                s = p.b.tcp_accept(l);
            }
        }
        while p.a.poll_event().is_some() {}
        s.is_some() && p.a.tcp_state(c) == State::Established
    });
    assert!(ok, "no connection");
    (p, c, s.unwrap())
}

fn message(i: usize, rng: &mut SplitMix64) -> Vec<u8> {
    // Sizes from 0 to the maximum, small ones most often.
    let len = match i % 4 {
        0 => rng.below(16) as usize,
        1 => rng.below(1_500) as usize,
        2 => rng.below(MAX as u64 + 1) as usize,
        _ => 64,
    };
    (0..len).map(|k| (i * 31 + k) as u8).collect()
}

#[test]
fn messages_cross_a_lossy_link_exactly_once_in_order_framed_in_place() {
    for (prefix, seed) in [(Prefix::U16, 1), (Prefix::U32, 2), (Prefix::Varint, 3)] {
        let link = LinkConfig {
            delay: Duration::from_millis(2),
            loss: 0.02,
            reorder: 0.02,
            duplicate: 0.01,
            ..LinkConfig::default()
        };
        let (mut p, c, s) = connected(link, seed);
        let framer = LengthPrefixed::with_prefix(prefix, MAX);
        let mut rng = SplitMix64::new(seed);
        let sent: Vec<Vec<u8>> = (0..400).map(|i| message(i, &mut rng)).collect();
        let mut stream = Vec::new();
        for m in &sent {
            framer.encode_into(m, &mut stream).unwrap();
        }
        let mut reader = FrameReader::new(framer);
        let (mut written, mut got) = (0, Vec::new());
        let limit = p.now + Duration::from_secs(120);
        let done = p.drive(limit, |p| {
            while p.a.poll_event().is_some() {}
            while p.b.poll_event().is_some() {}
            if written < stream.len() {
                written += p.a.tcp_send(c, &stream[written..]).unwrap();
            }
            read_tcp(&mut p.b, s, &mut reader, |m| {
                got.push(m.to_vec());
                true
            })
            .unwrap();
            got.len() == sent.len()
        });
        assert!(done, "{prefix:?}: {} of {} messages", got.len(), sent.len());
        assert!(got == sent, "{prefix:?}: messages differ");
        let st = *reader.stats();
        assert_eq!(st.frames, sent.len() as u64);
        // Chunks are 2 KiB: messages over that always straddle, most small ones do not.
        assert!(st.copied_frames > 0 && st.copied_frames < st.frames / 2, "{prefix:?}: {st:?}");
        assert_eq!(reader.held(), 0);
    }
}

/// Runs the pair until B's reader fails, sending `stream` from A; returns the error.
fn refused(
    stream: &[u8],
    framer: LengthPrefixed,
) -> (Pair, TcpHandle, FrameReader<LengthPrefixed>, TcpFramingError) {
    let link = LinkConfig { delay: Duration::from_millis(1), ..LinkConfig::default() };
    let (mut p, c, s) = connected(link, 9);
    p.a.tcp_send(c, stream).unwrap();
    let mut reader = FrameReader::new(framer);
    let mut err = None;
    let mut delivered = 0;
    let limit = p.now + Duration::from_secs(5);
    p.drive(limit, |p| {
        while p.a.poll_event().is_some() {}
        while p.b.poll_event().is_some() {}
        if err.is_none() {
            err = read_tcp(&mut p.b, s, &mut reader, |_| {
                delivered += 1;
                true
            })
            .err();
        }
        err.is_some() && p.a.tcp_state(c) == State::Closed
    });
    assert_eq!(delivered, 1, "the good message before the bad one is delivered");
    (p, c, reader, err.expect("the stream was not refused"))
}

#[test]
fn an_oversized_message_aborts_the_connection_with_a_counted_error() {
    let framer = LengthPrefixed::with_prefix(Prefix::U32, 1_000);
    let mut stream = Vec::new();
    framer.encode_into(b"fine", &mut stream).unwrap();
    stream.extend_from_slice(&1_001u32.to_be_bytes());
    let (p, c, reader, err) = refused(&stream, framer);
    assert_eq!(err, TcpFramingError::Framing(FrameError::TooLong { max: 1_000 }));
    assert_eq!(reader.stats().too_long, 1);
    assert_eq!(p.a.tcp_state(c), State::Closed, "the sender was reset");
}

#[test]
fn a_garbled_varint_aborts_the_connection_with_a_counted_error() {
    // The largest maximum, so the prefix may run to 10 bytes: past them it is no number.
    let framer = LengthPrefixed::with_prefix(Prefix::Varint, usize::MAX);
    let mut stream = Vec::new();
    framer.encode_into(b"fine", &mut stream).unwrap();
    stream.extend_from_slice(&[0xff; 11]);
    let (_, _, reader, err) = refused(&stream, framer);
    assert_eq!(err, TcpFramingError::Framing(FrameError::BadLength));
    assert_eq!(reader.stats().bad_length, 1);
}
