#![no_main]
//! The framing library on arbitrary streams: the first bytes choose the framer and its
//! maximum, the rest arrive in pieces and are lent to a `FrameReader` as two slices split at
//! points the input also chooses. No panic; no message over the maximum; never more held
//! than one encoded message; an error sticks and consumes nothing more.
use libfuzzer_sys::fuzz_target;
use xdptcp_stack::framing::{Delimited, Fixed, FrameReader, Framer, LengthPrefixed, Prefix};

fn run<F: Framer>(framer: F, max_body: usize, data: &[u8]) {
    let limit = framer.max_encoded_len();
    let mut reader = FrameReader::new(framer);
    let mut buffered: Vec<u8> = Vec::new();
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let take = usize::from(n % 64).min(tail.len());
        buffered.extend_from_slice(&tail[..take]);
        rest = &tail[take..];
        let at = rest.first().map_or(0, |&s| usize::from(s)) % (buffered.len() + 1);
        let (a, b) = buffered.split_at(at);
        let (a, b) = if a.is_empty() { (b, a) } else { (a, b) };
        let failed = reader.error().is_some();
        let used = reader.read(a, b, |m| {
            assert!(m.len() <= max_body, "a message of {} bytes, max {max_body}", m.len());
            true
        });
        assert!(!failed || used == 0, "a failed reader consumed bytes");
        assert!(reader.held() <= limit, "held {} of at most {limit}", reader.held());
        buffered.drain(..used);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else { return };
    let Some((&max, rest)) = rest.split_first() else { return };
    let max = usize::from(max) * 4;
    match kind % 5 {
        0 => run(LengthPrefixed::with_prefix(Prefix::U16, max), max, rest),
        1 => run(LengthPrefixed::with_prefix(Prefix::U32, max), max, rest),
        2 => run(LengthPrefixed::with_prefix(Prefix::Varint, max), max, rest),
        3 => run(Delimited::new(b"\r\n\r\n", max), max, rest),
        _ => run(Fixed::new(max.max(1)), max.max(1), rest),
    }
});
