use super::*;
use proptest::prelude::*;

/// Feeds `stream` in the pieces given by `cuts` to a caller that keeps unconsumed bytes, the
/// way a socket reader does, and collects the messages.
fn reassemble<F: Framer>(
    framer: &mut F,
    stream: &[u8],
    cuts: &[usize],
) -> Result<Vec<Vec<u8>>, FrameError> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    points.push(0);
    points.push(stream.len());
    points.sort_unstable();
    let mut pending = Vec::new();
    let mut out = Vec::new();
    for w in points.windows(2) {
        pending.extend_from_slice(&stream[w[0]..w[1]]);
        let used = for_each_frame(framer, &pending, |m, _| {
            out.push(m.to_vec());
            true
        })?;
        pending.drain(..used);
    }
    assert!(pending.is_empty(), "bytes left over: {pending:?}");
    Ok(out)
}

/// The same through a [`FrameReader`] over a ring: bytes arrive in the pieces `cuts` gives,
/// and at every read the buffered bytes are lent as two slices split where `splits` says
/// (as the stack's chunks wrap anywhere). Checks nothing is held at the end.
fn reassemble_ring<F: Framer>(
    framer: F,
    stream: &[u8],
    cuts: &[usize],
    splits: &[usize],
) -> Result<(Vec<Vec<u8>>, FramingStats), FrameError> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    points.push(0);
    points.push(stream.len());
    points.sort_unstable();
    let mut reader = FrameReader::new(framer);
    let mut buffered: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut splits = splits.iter().cycle();
    for w in points.windows(2) {
        buffered.extend_from_slice(&stream[w[0]..w[1]]);
        let at = splits.next().map_or(0, |s| s % (buffered.len() + 1));
        let (a, b) = buffered.split_at(at);
        let (a, b) = if a.is_empty() { (b, a) } else { (a, b) };
        let used = reader.read(a, b, |m| {
            out.push(m.to_vec());
            true
        });
        if let Some(e) = reader.error() {
            return Err(e);
        }
        buffered.drain(..used);
    }
    assert!(buffered.len() + reader.held() == 0, "bytes left over: {buffered:?}");
    Ok((out, *reader.stats()))
}

fn one_byte_cuts(len: usize) -> Vec<usize> {
    (0..=len).collect()
}

fn messages() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..12)
}

fn prefixes() -> impl Strategy<Value = Prefix> {
    prop::sample::select(vec![Prefix::U16, Prefix::U32, Prefix::Varint])
}

fn cut_list() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(any::<usize>(), 0..30)
}

proptest! {
    #[test]
    fn length_prefixed_any_split(prefix in prefixes(), msgs in messages(), cuts in cut_list(), splits in cut_list()) {
        let f = LengthPrefixed::with_prefix(prefix, 300);
        let mut stream = Vec::new();
        for m in &msgs { f.encode_into(m, &mut stream).unwrap(); }
        prop_assert_eq!(&reassemble(&mut f.clone(), &stream, &cuts).unwrap(), &msgs);
        prop_assert_eq!(&reassemble(&mut f.clone(), &stream, &one_byte_cuts(stream.len())).unwrap(), &msgs);
        let (got, stats) = reassemble_ring(f.clone(), &stream, &cuts, &splits).unwrap();
        prop_assert_eq!(&got, &msgs);
        prop_assert_eq!(stats.frames, msgs.len() as u64);
        prop_assert_eq!(&reassemble_ring(f, &stream, &one_byte_cuts(stream.len()), &splits).unwrap().0, &msgs);
    }

    #[test]
    fn delimited_byte_any_split(msgs in prop::collection::vec(prop::collection::vec(0u8..=9, 0..40), 0..12),
                                cuts in cut_list(), splits in cut_list()) {
        let f = Delimited::new(&[10], 40);
        let mut stream = Vec::new();
        for m in &msgs { f.encode_into(m, &mut stream).unwrap(); }
        prop_assert_eq!(&reassemble(&mut f.clone(), &stream, &cuts).unwrap(), &msgs);
        prop_assert_eq!(&reassemble(&mut f.clone(), &stream, &one_byte_cuts(stream.len())).unwrap(), &msgs);
        prop_assert_eq!(&reassemble_ring(f, &stream, &cuts, &splits).unwrap().0, &msgs);
    }

    #[test]
    fn delimited_crlfcrlf_any_split(
        msgs in prop::collection::vec(prop::collection::vec(prop::sample::select(vec![b'a', b'\r', b'\n']), 0..30), 0..10),
        cuts in cut_list(), splits in cut_list(),
    ) {
        let f = Delimited::new(b"\r\n\r\n", 30);
        let mut stream = Vec::new();
        // Bodies that hold the delimiter (or end with its start) are refused by the encoder.
        let msgs: Vec<Vec<u8>> = msgs.into_iter().filter(|m| f.encode_into(m, &mut stream).is_ok()).collect();
        prop_assert_eq!(&reassemble(&mut f.clone(), &stream, &cuts).unwrap(), &msgs);
        prop_assert_eq!(&reassemble(&mut f.clone(), &stream, &one_byte_cuts(stream.len())).unwrap(), &msgs);
        prop_assert_eq!(&reassemble_ring(f, &stream, &cuts, &splits).unwrap().0, &msgs);
    }

    #[test]
    fn fixed_any_split(n in 0usize..10, size in 1usize..20, cuts in cut_list(), splits in cut_list(), seed in any::<u8>()) {
        let msgs: Vec<Vec<u8>> = (0..n).map(|i| vec![seed.wrapping_add(i as u8); size]).collect();
        let stream = msgs.concat();
        prop_assert_eq!(&reassemble(&mut Fixed::new(size), &stream, &cuts).unwrap(), &msgs);
        prop_assert_eq!(&reassemble_ring(Fixed::new(size), &stream, &cuts, &splits).unwrap().0, &msgs);
    }

    /// Arbitrary bytes in arbitrary pieces: every framer answers, none panics, a message is
    /// never over the maximum, and the reader holds at most one encoded message.
    #[test]
    fn garbage_never_panics(stream in prop::collection::vec(any::<u8>(), 0..300), cuts in cut_list(), splits in cut_list()) {
        let framers: Vec<Box<dyn Fn() -> Box<dyn Framer>>> = vec![
            Box::new(|| Box::new(LengthPrefixed::with_prefix(Prefix::U16, 16))),
            Box::new(|| Box::new(LengthPrefixed::with_prefix(Prefix::Varint, 16))),
            Box::new(|| Box::new(Delimited::new(b"\r\n\r\n", 16))),
        ];
        for make in &framers {
            let max = make().max_encoded_len();
            let mut reader = FrameReader::new(make());
            let mut buffered = Vec::new();
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
            points.push(stream.len());
            points.sort_unstable();
            let mut prev = 0;
            let mut splits = splits.iter().cycle();
            for &p in &points {
                buffered.extend_from_slice(&stream[prev..p]);
                prev = p;
                let at = splits.next().map_or(0, |s| s % (buffered.len() + 1));
                let (a, b) = buffered.split_at(at);
                let used = reader.read(a, b, |m| { assert!(m.len() <= 16); true });
                buffered.drain(..used);
                prop_assert!(reader.held() <= max);
            }
        }
    }
}

impl Framer for Box<dyn Framer> {
    fn next_frame(&mut self, buf: &[u8]) -> Result<Option<Frame>, FrameError> {
        (**self).next_frame(buf)
    }
    fn max_encoded_len(&self) -> usize {
        (**self).max_encoded_len()
    }
}

#[test]
fn oversized_length_prefix_is_an_error_before_the_body_arrives() {
    let mut f = LengthPrefixed::new(100);
    assert_eq!(f.next_frame(&101u32.to_be_bytes()), Err(FrameError::TooLong { max: 100 }));
    assert_eq!(f.next_frame(&u32::MAX.to_be_bytes()), Err(FrameError::TooLong { max: 100 }));
    assert_eq!(f.next_frame(&100u32.to_be_bytes()), Ok(None));
    let mut f = LengthPrefixed::with_prefix(Prefix::U16, 1 << 20);
    assert_eq!(f.max(), 65_535, "a 16-bit prefix announces no more");
    assert_eq!(f.next_frame(&[0xff, 0xff]), Ok(None));
}

#[test]
fn varint_lengths_round_trip_and_garbage_is_refused() {
    let f = LengthPrefixed::with_prefix(Prefix::Varint, usize::MAX);
    for (len, bytes) in [(0usize, 1usize), (127, 1), (128, 2), (300, 2), (16_383, 2), (16_384, 3)] {
        let mut out = Vec::new();
        f.write_prefix(len, &mut out).unwrap();
        assert_eq!(out.len(), bytes, "{len}");
        assert_eq!(Prefix::Varint.len_of(len), bytes);
        out.resize(out.len() + len, 7);
        let frame = f.clone().next_frame(&out).unwrap().unwrap();
        assert_eq!((frame.body.len(), frame.consumed), (len, out.len()));
    }
    // 300 is 0xac 0x02 (Protocol Buffers' own example).
    let mut out = Vec::new();
    f.write_prefix(300, &mut out).unwrap();
    assert_eq!(out, [0xac, 0x02]);
    // Ten continuation bytes, or a tenth byte over bit 63: no number.
    let mut f = LengthPrefixed::with_prefix(Prefix::Varint, usize::MAX);
    assert_eq!(f.next_frame(&[0x80; 9]), Ok(None));
    assert_eq!(f.next_frame(&[0x80; 10]), Err(FrameError::BadLength));
    let mut big = [0xff; 10];
    big[9] = 0x02;
    assert_eq!(f.next_frame(&big), Err(FrameError::BadLength));
    // Under a smaller maximum, a prefix longer than the maximum's is refused as it arrives.
    let mut f = LengthPrefixed::with_prefix(Prefix::Varint, 1000);
    assert_eq!(f.next_frame(&[0x80]), Ok(None));
    assert_eq!(f.next_frame(&[0x80, 0x80]), Err(FrameError::TooLong { max: 1000 }));
    assert_eq!(f.next_frame(&[0xe9, 0x07]), Err(FrameError::TooLong { max: 1000 }));
    // Found by the `framing` fuzz target: with a maximum of 0 a varint prefix is one byte, so
    // a second continuation byte is already over it (the reader held three prefix bytes for
    // a message of at most one encoded byte).
    let mut f = LengthPrefixed::with_prefix(Prefix::Varint, 0);
    assert_eq!(f.next_frame(&[0x00]).unwrap().unwrap().consumed, 1);
    assert_eq!(f.next_frame(&[0xff]), Err(FrameError::TooLong { max: 0 }));
    let mut r = FrameReader::new(LengthPrefixed::with_prefix(Prefix::Varint, 0));
    assert_eq!(r.read(&[0x05, 0xff, 0xff], &[0xff, 0x2a], |_| true), 0);
    assert_eq!(r.error(), Some(FrameError::TooLong { max: 0 }));
    assert_eq!(r.held(), 0);
}

#[test]
fn encoders_refuse_what_the_decoder_would() {
    let mut out = Vec::new();
    let f = LengthPrefixed::with_prefix(Prefix::U16, 10);
    assert_eq!(f.encode_into(&[0; 11], &mut out), Err(FrameError::TooLong { max: 10 }));
    let d = Delimited::new(b"\r\n", 10);
    assert_eq!(d.encode_into(b"a\r\nb", &mut out), Err(FrameError::DelimiterInBody));
    let d = Delimited::new(b"\r\n\r\n", 10);
    assert_eq!(d.encode_into(b"a\r\n", &mut out), Err(FrameError::DelimiterInBody));
    assert!(out.is_empty(), "nothing written on refusal");
}

#[test]
fn oversized_delimited_message_is_an_error() {
    let mut f = Delimited::new(b"\r\n", 4);
    assert_eq!(f.next_frame(b"abcd\r"), Ok(None));
    // "abcd\r\n" is the longest legal message; one more byte without the delimiter fails.
    assert_eq!(f.next_frame(b"abcd\r\n").unwrap(), Some(Frame { body: 0..4, consumed: 6 }));
    let mut f = Delimited::new(b"\r\n", 4);
    assert_eq!(f.next_frame(b"abcde\r"), Err(FrameError::TooLong { max: 4 }));
}

#[test]
fn delimiter_search_resumes_where_it_stopped() {
    let mut f = Delimited::new(b"\r\n\r\n", 1000);
    let mut buf = b"GET / HTTP/1.1\r\nHost: x\r\n\r".to_vec();
    assert_eq!(f.next_frame(&buf), Ok(None));
    // The partial delimiter at the end is where the next search starts.
    assert_eq!(f.scanned(), buf.len() - 3);
    buf.push(b'\n');
    let frame = f.next_frame(&buf).unwrap().unwrap();
    assert_eq!(&buf[frame.body], b"GET / HTTP/1.1\r\nHost: x");
    assert_eq!(frame.consumed, buf.len());
}

#[test]
fn zero_size_fixed_framer_still_advances() {
    let used = for_each_frame(&mut Fixed::new(0), b"abc", |m, _| {
        assert_eq!(m.len(), 1);
        true
    });
    assert_eq!(used, Ok(3));
}

#[test]
fn for_each_frame_stops_when_asked() {
    let mut stream = Vec::new();
    for m in [&b"one"[..], b"two", b"three"] {
        LengthPrefixed::encode(m, &mut stream).unwrap();
    }
    let mut seen = Vec::new();
    let mut ends = Vec::new();
    let used = for_each_frame(&mut LengthPrefixed::new(10), &stream, |m, end| {
        seen.push(m.to_vec());
        ends.push(end);
        seen.len() < 2
    })
    .unwrap();
    assert_eq!(seen, vec![b"one".to_vec(), b"two".to_vec()]);
    assert_eq!(used, 14);
    // Each message's end in the stream, its 4-byte prefix included.
    assert_eq!(ends, vec![7, 14]);
}

#[test]
fn reader_copies_only_what_straddles() {
    let f = LengthPrefixed::with_prefix(Prefix::U16, 100);
    let mut stream = Vec::new();
    for m in [&b"first"[..], b"second", b"third"] {
        f.encode_into(m, &mut stream).unwrap();
    }
    // Split inside "second": "first" and "third" in place, "second" copied once.
    let mut r = FrameReader::new(f);
    let mut seen = Vec::new();
    let (a, b) = stream.split_at(10);
    let used = r.read(a, b, |m| {
        seen.push(m.to_vec());
        true
    });
    assert_eq!(used, stream.len());
    assert_eq!(seen, [&b"first"[..], b"second", b"third"]);
    assert_eq!((r.stats().frames, r.stats().copied_frames), (3, 1));
    // A message incomplete at the end stays in the buffer, unconsumed.
    let used = r.read(&stream[..9], &[], |_| true);
    assert_eq!((used, r.held()), (7, 0));
    // An error sticks, is counted, and consumes nothing more.
    let used = r.read(&[0xff, 0xff], &[], |_| true);
    assert_eq!(used, 0);
    assert_eq!(r.error(), Some(FrameError::TooLong { max: 100 }));
    assert_eq!(r.read(&stream, &[], |_| true), 0);
    assert_eq!(r.stats().too_long, 1);
}
