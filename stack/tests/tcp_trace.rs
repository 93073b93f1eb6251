//! Packet-trace tests of the TCP connection engine: each test reads as the segments that go
//! in and out of one connection.

mod common;

use common::*;
use xdptcp_stack::tcp::{BufferSizes, Endpoint, Event, Flags, SegmentVerdict, State, TcpConfig};
use xdptcp_stack::time::{Duration, Instant};

/// Asserts the connection sends exactly one segment matching (seq, ack, flags, payload len).
macro_rules! recv {
    ($c:expr, $now:expr, seq $seq:expr, ack $ack:expr, $flags:expr, len $len:expr) => {{
        let x = tx(&mut $c, $now).expect("expected a segment");
        assert_eq!(
            (x.seq, x.ack, x.flags, x.payload.len()),
            (s($seq), $ack.map(s), $flags, $len),
            "segment mismatch: {:?}",
            x
        );
        x
    }};
}

macro_rules! recv_nothing {
    ($c:expr, $now:expr) => {{
        let x = tx(&mut $c, $now);
        assert!(x.is_none(), "unexpected segment {:?}", x);
    }};
}

macro_rules! send {
    ($c:expr, $now:expr, $seg:expr) => {
        rx(&mut $c, $now, &$seg)
    };
}

const A: Flags = Flags::ACK;

fn data(n: usize, salt: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt)).collect()
}

// ---------------------------------------------------------------- handshakes

#[test]
fn active_open_with_options() {
    let cfg = TcpConfig { rmem: BufferSizes::fixed(200_000), ..TcpConfig::default() };
    let mut c = Endpoint::connect(ms(0), cfg, LOCAL, REMOTE, s(ISS));
    assert_eq!(c.state(), State::SynSent);
    let syn = recv!(c, ms(0), seq ISS, ack None::<u32>, Flags::SYN, len 0);
    assert_eq!(syn.options.mss, Some(1460));
    assert_eq!(syn.options.window_scale, Some(2));
    assert!(syn.options.sack_permitted);
    assert!(syn.options.timestamps.is_some_and(|(_, ecr)| ecr == 0));
    assert_eq!(syn.window, u16::MAX);
    recv_nothing!(c, ms(0));

    let mut synack =
        seg(IRS, Some(ISS + 1), Flags::SYN).with_ts(777, syn.options.timestamps.unwrap().0);
    synack.options.mss = Some(1400);
    synack.options.window_scale = Some(7);
    synack.options.sack_permitted = true;
    assert_eq!(send!(c, ms(30), synack), SegmentVerdict::Accepted);
    assert_eq!(c.state(), State::Established);
    let ack = recv!(c, ms(30), seq ISS + 1, ack Some(IRS + 1), A, len 0);
    assert_eq!(ack.options.timestamps.map(|t| t.1), Some(777), "TSecr echoes the peer");
    // 200_000 bytes free at shift 2 -> 50_000.
    assert_eq!(ack.window, 50_000);
    assert_eq!(events(&mut c), vec![Event::Connected]);
    let info = c.info();
    assert_eq!(info.snd_mss, 1400 - 12, "peer MSS minus timestamp option");
    assert_eq!(info.window_scale, Some((2, 7)));
    assert!(info.timestamps && info.sack);
    assert!(info.rtt.is_some(), "SYN RTT sampled");
    assert_eq!(c.counters().active_opens, 1);
    assert_eq!(c.counters().curr_estab, 1);
}

#[test]
fn passive_open() {
    let mut syn = seg(IRS, None, Flags::SYN);
    syn.options.mss = Some(100);
    let mut c =
        Endpoint::accept_syn(ms(0), plain_config(), LOCAL, REMOTE, s(ISS), &syn.as_segment());
    assert_eq!(c.state(), State::SynReceived);
    let sa = recv!(c, ms(0), seq ISS, ack Some(IRS + 1), Flags::SYN | A, len 0);
    assert_eq!(sa.options.window_scale, None, "peer did not offer scaling");
    assert!(!sa.options.sack_permitted);
    assert_eq!(sa.window, 1000);
    recv_nothing!(c, ms(0));
    // Lost SYN-ACK: the peer retransmits its SYN; we answer with the SYN-ACK again.
    send!(c, ms(5), syn);
    recv!(c, ms(5), seq ISS, ack Some(IRS + 1), Flags::SYN | A, len 0);
    // The handshake ACK carries data.
    send!(c, ms(10), seg(IRS + 1, Some(ISS + 1), A).with_payload(b"hello"));
    assert_eq!(c.state(), State::Established);
    assert_eq!(events(&mut c), vec![Event::Connected, Event::Readable]);
    assert_eq!(read_all(&mut c), b"hello");
    assert_eq!(c.counters().passive_opens, 1);
}

#[test]
fn syn_received_bad_ack_gets_rst() {
    let syn = seg(IRS, None, Flags::SYN);
    let mut c =
        Endpoint::accept_syn(ms(0), plain_config(), LOCAL, REMOTE, s(ISS), &syn.as_segment());
    tx_all(&mut c, ms(0));
    send!(c, ms(1), seg(IRS + 1, Some(ISS + 50), A));
    recv!(c, ms(1), seq ISS + 50, ack None::<u32>, Flags::RST, len 0);
    assert_eq!(c.state(), State::SynReceived);
}

#[test]
fn simultaneous_open() {
    let mut c = Endpoint::connect(ms(0), plain_config(), LOCAL, REMOTE, s(ISS));
    recv!(c, ms(0), seq ISS, ack None::<u32>, Flags::SYN, len 0);
    // The peer's SYN crosses ours.
    send!(c, ms(5), seg(IRS, None, Flags::SYN));
    assert_eq!(c.state(), State::SynReceived);
    recv!(c, ms(5), seq ISS, ack Some(IRS + 1), Flags::SYN | A, len 0);
    // The peer's SYN-ACK for our SYN completes the handshake; we acknowledge it.
    send!(c, ms(10), seg(IRS, Some(ISS + 1), Flags::SYN));
    recv!(c, ms(10), seq ISS + 1, ack Some(IRS + 1), A, len 0);
    assert_eq!(c.state(), State::Established);
    assert!(events(&mut c).contains(&Event::Connected));
}

#[test]
fn syn_sent_unacceptable_ack_and_refusal() {
    let mut c = Endpoint::connect(ms(0), plain_config(), LOCAL, REMOTE, s(ISS));
    tx_all(&mut c, ms(0));
    // ACK for something we never sent: RST with seq = that ACK, stay in SYN-SENT.
    send!(c, ms(1), seg(IRS, Some(ISS + 10), Flags::SYN));
    recv!(c, ms(1), seq ISS + 10, ack None::<u32>, Flags::RST, len 0);
    assert_eq!(c.state(), State::SynSent);
    // A RST without ACK is not believed.
    send!(c, ms(2), seg(IRS, None, Flags::RST));
    assert_eq!(c.state(), State::SynSent);
    // RST acknowledging our SYN: refused.
    send!(c, ms(3), seg(0, Some(ISS + 1), Flags::RST));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(events(&mut c), vec![Event::Refused]);
    assert_eq!(c.counters().attempt_fails, 1);
    assert!(c.is_closed());
}

#[test]
fn syn_retries_then_timeout() {
    let cfg = TcpConfig { syn_retries: 3, ..plain_config() };
    let mut c = Endpoint::connect(ms(0), cfg, LOCAL, REMOTE, s(ISS));
    recv!(c, ms(0), seq ISS, ack None::<u32>, Flags::SYN, len 0);
    let mut gaps = Vec::new();
    let mut last = ms(0);
    for _ in 0..3 {
        let t = c.poll_timeout().unwrap();
        gaps.push(t - last);
        last = t;
        c.on_timeout(t);
        recv!(c, t, seq ISS, ack None::<u32>, Flags::SYN, len 0);
    }
    // Initial RTO 1 s, doubling.
    assert_eq!(gaps, vec![Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(4)]);
    let t = c.poll_timeout().unwrap();
    assert_eq!(t - last, Duration::from_secs(8));
    c.on_timeout(t);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(events(&mut c), vec![Event::TimedOut]);
    recv_nothing!(c, t);
}

// ---------------------------------------------------------------- data transfer

#[test]
fn data_out_with_nagle_and_segmentation() {
    let mut c = client(plain_config());
    let d = data(250, 1);
    assert_eq!(c.send(&d), 250);
    let s1 = recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), A, len 100);
    // The two full segments are one TSO packet for Linux, which carries PSH (`tcp::push`).
    let s2 = recv!(c, ms(20), seq ISS + 101, ack Some(IRS + 1), P | A, len 100);
    // Nagle holds the 50-byte tail while data is unacknowledged.
    recv_nothing!(c, ms(20));
    assert_eq!([s1.payload, s2.payload].concat(), d[..200]);
    send!(c, ms(30), seg(IRS + 1, Some(ISS + 201), A));
    let s3 = recv!(c, ms(30), seq ISS + 201, ack Some(IRS + 1), A | Flags::PSH, len 50);
    assert_eq!(s3.payload, d[200..]);
    // The write was taken whole: no writer waits, so freed room raises no `Writable`.
    assert!(!events(&mut c).contains(&Event::Writable));
    send!(c, ms(40), seg(IRS + 1, Some(ISS + 251), A));
    assert_eq!(c.info().bytes_acked, 250);
    assert_eq!(c.poll_timeout(), None, "nothing in flight, no timer");
}

/// Write space as Linux signals it (`SOCK_NOSPACE`, `sk_stream_write_space`): an ACK that
/// frees room raises `Writable` only after a write was refused or short, once, and only when
/// at least a third of the buffer is free.
#[test]
fn writable_only_after_a_refused_write() {
    let mut c = client(plain_config().with_nodelay(true));
    let _ = events(&mut c);
    // A write taken whole, sent and acknowledged: nobody waits, no event.
    assert_eq!(c.send(&data(300, 1)), 300);
    tx_all(&mut c, ms(20));
    send!(c, ms(30), seg(IRS + 1, Some(ISS + 301), A));
    assert_eq!(events(&mut c), Vec::<Event>::new());
    // Fill the buffer: the write comes back short, and the writer now waits.
    let space = c.send_space();
    assert!(space > 0);
    assert_eq!(c.send(&data(space + 1, 2)), space);
    assert_eq!(c.send(&data(10, 3)), 0, "full");
    let sent: usize = tx_all(&mut c, ms(40)).iter().map(|x| x.payload.len()).sum();
    assert!(sent > 0 && sent < space, "the peer window holds back the rest");
    // An ACK freeing too little (under a third of the buffer) keeps the writer waiting.
    let queued = c.send_queue_len();
    send!(c, ms(50), seg(IRS + 1, Some(ISS + 301 + 100), A));
    assert_eq!(c.send_queue_len(), queued - 100);
    assert!(!events(&mut c).contains(&Event::Writable));
    // ACKs of everything sent (a wider window lets the rest go): silent while under a third
    // of the buffer is free, then one `Writable`.
    let mut acked = 301 + 100;
    let mut wide = seg(IRS + 1, Some(ISS + 301 + sent as u32), A);
    wide.window = 60_000;
    for round in 0.. {
        assert!(round < 20, "no Writable");
        rx(&mut c, ms(60 + round), &wide);
        let ev = events(&mut c);
        if c.send_space() >= c.send_queue_len() / 2 {
            assert_eq!(ev, vec![Event::Writable]);
            break;
        }
        assert_eq!(ev, Vec::<Event>::new(), "too little room for the waiting writer");
        acked += tx_all(&mut c, ms(60 + round)).iter().map(|x| x.payload.len() as u32).sum::<u32>();
        wide.ack = Some(s(ISS + acked));
    }
    // The mark is cleared: freeing ACKs are silent until a write is refused again.
    let more = tx_all(&mut c, ms(90)).iter().map(|x| x.payload.len() as u32).sum::<u32>();
    assert!(more > 0);
    wide.ack = Some(s(ISS + acked + more));
    rx(&mut c, ms(95), &wide);
    assert!(c.send_queue_len() < 4096);
    assert!(!events(&mut c).contains(&Event::Writable));
}

/// The zero-copy writer: a `send_slices` that comes back empty marks it as waiting too.
#[test]
fn writable_after_zero_copy_writer_found_no_room() {
    let mut c = client(plain_config().with_nodelay(true));
    let _ = events(&mut c);
    loop {
        let room = c.send_slices();
        if room.is_empty() {
            break;
        }
        let n = room.len();
        room.fill(7);
        c.send_commit(n);
    }
    let mut acked = 1;
    let mut wide = seg(IRS + 1, None, A);
    wide.window = 60_000;
    let mut seen = Vec::new();
    for round in 0..20 {
        acked += tx_all(&mut c, ms(20 + round)).iter().map(|x| x.payload.len() as u32).sum::<u32>();
        wide.ack = Some(s(ISS + acked));
        wide.flags = A;
        rx(&mut c, ms(20 + round), &wide);
        seen.extend(events(&mut c));
    }
    assert_eq!(c.send_queue_len(), 0);
    assert_eq!(seen, vec![Event::Writable], "once, for the writer that found no room");
}

#[test]
fn nodelay_sends_small_segments_at_once() {
    let mut c = client(plain_config());
    c.set_nodelay(true);
    c.send(b"a");
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), A | Flags::PSH, len 1);
    c.send(b"b");
    recv!(c, ms(20), seq ISS + 2, ack Some(IRS + 1), A | Flags::PSH, len 1);
    c.set_nodelay(false);
    c.send(b"c");
    recv_nothing!(c, ms(20));
}

#[test]
fn respects_peer_window_and_cwnd() {
    let mut c = client(plain_config());
    send!(c, ms(15), seg(IRS + 1, Some(ISS + 1), A).with_window(250));
    c.send(&data(1000, 2));
    let out = tx_all(&mut c, ms(20));
    // 250 bytes of window: two full segments, then 50 bytes is not worth sending (SWS)
    // while data is in flight.
    assert_eq!(out.iter().map(|x| x.payload.len()).collect::<Vec<_>>(), vec![100, 100]);
    send!(c, ms(30), seg(IRS + 1, Some(ISS + 201), A).with_window(1000));
    let out = tx_all(&mut c, ms(30));
    assert_eq!(out.iter().map(|x| x.payload.len()).sum::<usize>(), 800);
}

#[test]
fn data_in_delayed_ack_and_window_update() {
    let mut c = client(plain_config());
    // Interactive mode: no quick ACKs for the first data (`quick_acks_*` test those).
    c.set_quickack(false);
    send!(c, ms(20), seg(IRS + 1, Some(ISS + 1), A).with_payload(&data(100, 3)));
    // One segment: the ACK is delayed by 40 ms.
    recv_nothing!(c, ms(20));
    assert_eq!(c.poll_timeout(), Some(ms(60)));
    c.on_timeout(ms(60));
    let a = recv!(c, ms(60), seq ISS + 1, ack Some(IRS + 101), A, len 0);
    assert_eq!(a.window, 900);
    assert_eq!(c.counters().delayed_acks, 1);
    // Two segments: ACK at once (the timer ended the interactive mode; enter it again).
    c.set_quickack(false);
    send!(c, ms(70), seg(IRS + 101, Some(ISS + 1), A).with_payload(&data(100, 4)));
    recv_nothing!(c, ms(70));
    send!(c, ms(71), seg(IRS + 201, Some(ISS + 1), A).with_payload(&data(100, 5)));
    let a = recv!(c, ms(71), seq ISS + 1, ack Some(IRS + 301), A, len 0);
    assert_eq!(a.window, 700);
    assert_eq!(read_all(&mut c), [data(100, 3), data(100, 4), data(100, 5)].concat());
    // Reading 300 bytes takes the window from 700 to 1000: not double what the peer may still
    // send, so no update (Linux `tcp_cleanup_rbuf`); the next ACK carries the new window.
    recv_nothing!(c, ms(72));
    // 600 more bytes leave 400; reading them opens 1000, more than double: update at once.
    for i in 0..6u32 {
        let d = data(100, 6 + i as u8);
        send!(c, ms(73), seg(IRS + 301 + i * 100, Some(ISS + 1), A).with_payload(&d));
    }
    let acks = tx_all(&mut c, ms(73));
    assert_eq!(acks.last().map(|a| (a.ack, a.window)), Some((Some(s(IRS + 901)), 400)));
    read_all(&mut c);
    let u = recv!(c, ms(74), seq ISS + 1, ack Some(IRS + 901), A, len 0);
    assert_eq!(u.window, 1000);
}

// ------------------------------------------------ Linux's quick-ACK and interactive modes

/// Sends `n` bytes at `at` in order and reads them, so the window stays as offered.
fn deliver(c: &mut Endpoint, at: Instant, seq: u32, n: usize) {
    rx(c, at, &seg(seq, Some(ISS + 1), A).with_payload(&data(n, seq as u8)));
    read_all(c);
}

#[test]
fn quick_acks_for_the_first_data_then_delayed_acks() {
    let mut c = client(plain_config());
    // Window 1000, segments of 100: half the window is 5 quick ACKs (Linux
    // `tcp_incr_quickack`), each for a single segment and sent at once.
    for i in 0..5u32 {
        let at = ms(20 + u64::from(i));
        deliver(&mut c, at, IRS + 1 + i * 100, 100);
        let a = recv!(c, at, seq ISS + 1, ack Some(IRS + 101 + i * 100), A, len 0);
        assert_eq!(a.window, 1000);
    }
    assert_eq!(c.counters().delayed_acks, 0);
    // The budget is spent: the next single segment waits for the delayed-ACK timer.
    deliver(&mut c, ms(30), IRS + 501, 100);
    recv_nothing!(c, ms(30));
    assert_eq!(c.poll_timeout(), Some(ms(70)));
    c.on_timeout(ms(70));
    recv!(c, ms(70), seq ISS + 1, ack Some(IRS + 601), A, len 0);
    assert_eq!(c.counters().delayed_acks, 1);
    // A silence longer than the RTO (1 s before any RTT sample) grants quick ACKs again.
    deliver(&mut c, ms(1200), IRS + 601, 100);
    recv!(c, ms(1200), seq ISS + 1, ack Some(IRS + 701), A, len 0);
}

#[test]
fn quick_acks_stop_in_an_interactive_exchange_and_resume_on_a_duplicate() {
    let mut c = client(plain_config());
    deliver(&mut c, ms(20), IRS + 1, 10);
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 11), A, len 0);
    // A reply within the delayed-ACK time: the exchange is interactive (ping-pong).
    c.send(b"reply");
    recv!(c, ms(25), seq ISS + 1, ack Some(IRS + 11), Flags::PSH | A, len 5);
    assert!(!c.quickack());
    // The next request (acknowledging the reply) waits for its ACK to ride on the next
    // reply...
    send!(c, ms(30), seg(IRS + 11, Some(ISS + 6), A).with_payload(&data(10, 1)));
    read_all(&mut c);
    recv_nothing!(c, ms(30));
    c.send(b"again");
    let r = recv!(c, ms(35), seq ISS + 6, ack Some(IRS + 21), Flags::PSH | A, len 5);
    assert_eq!(r.ack, Some(s(IRS + 21)), "the ACK rode on the reply");
    send!(c, ms(40), seg(IRS + 21, Some(ISS + 11), A));
    // ...and when no reply comes, the delayed-ACK timer ends the interactive mode.
    deliver(&mut c, ms(50), IRS + 21, 10);
    recv_nothing!(c, ms(50));
    c.on_timeout(ms(90));
    recv!(c, ms(90), seq ISS + 11, ack Some(IRS + 31), A, len 0);
    assert!(c.quickack());
    // Back in interactive mode, a duplicate (the peer retransmits) brings quick ACKs back.
    c.set_quickack(false);
    send!(c, ms(100), seg(IRS + 21, Some(ISS + 11), A).with_payload(&data(10, 0)));
    recv!(c, ms(100), seq ISS + 11, ack Some(IRS + 31), A, len 0);
    assert!(c.quickack());
    deliver(&mut c, ms(101), IRS + 31, 10);
    recv!(c, ms(101), seq ISS + 11, ack Some(IRS + 41), A, len 0);
}

#[test]
fn tcp_quickack_sends_an_owed_ack_now() {
    let mut c = client(plain_config());
    c.set_quickack(false);
    assert!(!c.quickack());
    deliver(&mut c, ms(20), IRS + 1, 10);
    recv_nothing!(c, ms(20));
    // TCP_QUICKACK = 1 with an ACK owed: it goes at once, not at the timer.
    c.set_quickack(true);
    recv!(c, ms(21), seq ISS + 1, ack Some(IRS + 11), A, len 0);
    assert_eq!(c.counters().delayed_acks, 0);
}

// ------------------------------------------------ PSH, records, TCP_CORK and MSG_MORE (Linux)

use xdptcp_stack::tcp::SendFlags;

const P: Flags = Flags::PSH;

#[test]
fn psh_where_a_write_ends_or_a_full_window_stops_the_round() {
    use xdptcp_stack::tcp::CongestionAlgorithm;
    let cfg =
        TcpConfig { congestion: CongestionAlgorithm::NewReno, ..plain_config().with_nodelay(true) };
    let mut c = client(TcpConfig { initial_cwnd_segments: 3, ..cfg });
    // One write of 250 bytes: PSH on its last segment, and on the second, which ends Linux's
    // first TSO packet (two segments at this pacing rate).
    c.send(&data(250, 1));
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), A, len 100);
    recv!(c, ms(20), seq ISS + 101, ack Some(IRS + 1), P | A, len 100);
    recv!(c, ms(20), seq ISS + 201, ack Some(IRS + 1), P | A, len 50);
    send!(c, ms(30), seg(IRS + 1, Some(ISS + 251), A));
    // A write larger than the window: the round stops at the full window, with PSH, as
    // Linux's one TSO packet per round carries it.
    c.send(&data(1000, 2));
    let round = tx_all(&mut c, ms(30));
    let flags: Vec<Flags> = round.iter().map(|x| x.flags).collect();
    assert_eq!(round.len(), 5, "cwnd 3 + 250 bytes acknowledged in slow start");
    assert_eq!(flags, vec![A, P | A, A, P | A, P | A]);
    // A retransmission repeats the PSH of the segment it repeats: none for the first one.
    c.on_timeout(c.poll_timeout().expect("RTO armed"));
    let r = tx(&mut c, ms(2000)).expect("retransmission");
    assert_eq!((r.seq, r.flags), (s(ISS + 251), A));
    // F-RTO (RFC 5682 §3.1 step 2b): the ACK of the retransmission brings new data first.
    send!(c, ms(2010), seg(IRS + 1, Some(ISS + 351), A));
    let n = tx(&mut c, ms(2010)).expect("new data");
    assert_eq!(n.seq, s(ISS + 751));
    tx_all(&mut c, ms(2010));
    // The next timeout (after progress: no F-RTO) resends the second segment. Nor does it
    // carry PSH: the PSH of a TSO packet is its transmission's, not the data's.
    let t = c.poll_timeout().expect("RTO armed");
    c.on_timeout(t);
    let r = tx(&mut c, t).expect("retransmission");
    assert_eq!((r.seq, r.flags), (s(ISS + 351), A));
}

/// Linux sends new data as TSO packets of `tcp_tso_segs` segments (two at low pacing rates)
/// and sets PSH on each one of more than one segment (`__tcp_transmit_skb`), which the device's
/// segmentation leaves on its last segment: packetdrill's `nagle/https_client.pkt` (segmentation
/// off) expects `. P P` for a write of two full segments and a short one with Nagle off, and
/// Linux 6.18 sends a 5000-byte write at MSS 974 as `. P . P . P`.
#[test]
fn psh_on_every_tso_packet_of_two_or_more_segments() {
    let mut c = client(plain_config().with_nodelay(true));
    c.send(&data(205, 1));
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), A, len 100);
    recv!(c, ms(20), seq ISS + 101, ack Some(IRS + 1), P | A, len 100);
    recv!(c, ms(20), seq ISS + 201, ack Some(IRS + 1), P | A, len 5);
    send!(c, ms(30), seg(IRS + 1, Some(ISS + 206), A));
    // Six segments: three packets of two, each with PSH on its last segment.
    c.send(&data(530, 2));
    let flags: Vec<Flags> = tx_all(&mut c, ms(30)).iter().map(|x| x.flags).collect();
    assert_eq!(flags, vec![A, P | A, A, P | A, A, P | A]);
    // A single segment is a packet of its own: no PSH unless a write ends there.
    send!(c, ms(40), seg(IRS + 1, Some(ISS + 736), A));
    c.send_with(&data(150, 3), SendFlags { more: true, eor: false });
    recv!(c, ms(40), seq ISS + 736, ack Some(IRS + 1), A, len 100);
    recv_nothing!(c, ms(40));
}

/// A write that fits one segment is a TSO packet of its own, and the end of a write closes the
/// packet its segment is in: the packets after either are counted afresh. (The first kind is
/// planned without computing a size goal, `Connection::plan_data`; this holds it to the packet
/// count it had, and fails if a write's end leaves a packet open.)
#[test]
fn a_packet_of_one_and_a_write_end_close_the_tso_packet() {
    let mut c = client(plain_config().with_nodelay(true));
    c.send(&data(50, 1));
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), P | A, len 50);
    send!(c, ms(30), seg(IRS + 1, Some(ISS + 51), A));
    // A segment and a half: the write's end closes the packet after its second segment.
    c.send(&data(150, 2));
    recv!(c, ms(30), seq ISS + 51, ack Some(IRS + 1), A, len 100);
    recv!(c, ms(30), seq ISS + 151, ack Some(IRS + 1), P | A, len 50);
    send!(c, ms(40), seg(IRS + 1, Some(ISS + 201), A));
    // So the next write starts a packet of its own: PSH on its second segment, not its first.
    c.send(&data(400, 3));
    let flags: Vec<Flags> = tx_all(&mut c, ms(40)).iter().map(|x| x.flags).collect();
    assert_eq!(flags, vec![A, P | A, A, P | A]);
}

#[test]
fn records_end_segments_and_carry_psh() {
    let mut c = client(plain_config().with_nodelay(true));
    // 150 bytes, then a 30-byte record, then 100 more: the record's end splits segments.
    c.send(&data(150, 1));
    c.send_with(&data(30, 2), SendFlags { more: false, eor: true });
    c.send(&data(100, 3));
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), A, len 100);
    recv!(c, ms(20), seq ISS + 101, ack Some(IRS + 1), P | A, len 80);
    recv!(c, ms(20), seq ISS + 181, ack Some(IRS + 1), P | A, len 100);
    recv_nothing!(c, ms(20));
}

#[test]
fn msg_more_holds_the_tail_until_an_ack_or_the_probe_timer() {
    let mut c = client(plain_config().with_nodelay(true));
    // MSG_MORE with nothing in flight: held, then sent with PSH by the probe timer one RTO
    // later (Linux `tcp_write_wakeup`).
    c.send_with(&data(40, 1), SendFlags { more: true, eor: false });
    recv_nothing!(c, ms(20));
    let wake = ms(20) + c.info().rto;
    assert_eq!(c.poll_timeout(), Some(wake));
    c.on_timeout(wake);
    recv!(c, wake, seq ISS + 1, ack Some(IRS + 1), P | A, len 40);
    send!(c, ms(1030), seg(IRS + 1, Some(ISS + 41), A));
    // Full segments of a MSG_MORE write go, as one TSO packet for Linux (PSH on its last
    // segment, `tcp::push`); the short tail waits for an ACK, then goes (Nagle is off)
    // without PSH: the write asked for none.
    c.send_with(&data(250, 2), SendFlags { more: true, eor: false });
    recv!(c, ms(1040), seq ISS + 41, ack Some(IRS + 1), A, len 100);
    recv!(c, ms(1040), seq ISS + 141, ack Some(IRS + 1), P | A, len 100);
    recv_nothing!(c, ms(1040));
    send!(c, ms(1050), seg(IRS + 1, Some(ISS + 141), A));
    recv!(c, ms(1050), seq ISS + 241, ack Some(IRS + 1), A, len 50);
    // A plain write pushes everything held.
    c.send_with(&data(20, 3), SendFlags { more: true, eor: false });
    recv_nothing!(c, ms(1060));
    c.send(&data(20, 4));
    recv!(c, ms(1060), seq ISS + 291, ack Some(IRS + 1), P | A, len 40);
}

#[test]
fn tcp_cork_holds_short_segments_until_lifted() {
    let mut c = client(plain_config());
    c.set_cork(true);
    c.send(&data(40, 1));
    c.send(&data(40, 2));
    recv_nothing!(c, ms(20));
    c.set_cork(false);
    recv!(c, ms(30), seq ISS + 1, ack Some(IRS + 1), P | A, len 80);
    send!(c, ms(40), seg(IRS + 1, Some(ISS + 81), A));
    // Corked, full segments still go; TCP_NODELAY lifts the cork and pushes the rest.
    c.set_cork(true);
    c.send(&data(130, 3));
    recv!(c, ms(50), seq ISS + 81, ack Some(IRS + 1), A, len 100);
    recv_nothing!(c, ms(50));
    c.set_nodelay(true);
    assert!(!c.corked());
    recv!(c, ms(50), seq ISS + 181, ack Some(IRS + 1), P | A, len 30);
}

#[test]
fn an_active_reset_carries_timestamps() {
    let cfg = TcpConfig { timestamps: true, ..plain_config() };
    let mut c = Endpoint::connect(ms(0), cfg, LOCAL, REMOTE, s(ISS));
    let syn = tx(&mut c, ms(0)).expect("SYN");
    let tsval = syn.options.timestamps.expect("TS offered").0;
    let mut synack = seg(IRS, Some(ISS + 1), Flags::SYN).with_ts(500, tsval);
    synack.options.mss = Some(100);
    send!(c, ms(10), synack);
    recv!(c, ms(10), seq ISS + 1, ack Some(IRS + 1), A, len 0);
    // SO_LINGER 0: the RST echoes TS.Recent and stamps our clock, as Linux's does.
    c.abort();
    let r = recv!(c, ms(1010), seq ISS + 1, ack Some(IRS + 1), Flags::RST | A, len 0);
    let (val, ecr) = r.options.timestamps.expect("timestamps on the RST");
    assert_eq!((val.wrapping_sub(tsval), ecr), (1010, 500));
}

#[test]
fn slow_start_grows_to_twice_the_largest_flight_of_an_app_limited_window() {
    let mut c = client(TcpConfig { initial_cwnd_segments: 10, ..plain_config() });
    let cwnd = |c: &Endpoint| c.info().cwnd / 100;
    // One write of ten segments; the application sends nothing more.
    c.send(&data(1000, 1));
    assert_eq!(tx_all(&mut c, ms(20)).len(), 10);
    // Each ACK of two segments grows the window by two while it is under twice the largest
    // flight of this window (Linux `tcp_is_cwnd_limited`), though less and less is in flight.
    for (i, want) in [12, 14, 16, 18, 20].into_iter().enumerate() {
        let acked = 200 * (i as u32 + 1);
        send!(c, ms(30 + i as u64), seg(IRS + 1, Some(ISS + 1 + acked), A));
        assert_eq!(cwnd(&c), want, "after {acked} bytes");
    }
}

#[test]
fn user_timeout_ends_retransmissions_by_time_not_count() {
    let mut c = client(plain_config());
    // TCP_USER_TIMEOUT of 3 s (RFC 5482): the retry count (15) no longer decides.
    c.set_user_timeout(Some(Duration::from_secs(3)));
    c.send(&data(50, 1));
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), P | A, len 50);
    // Timeouts back off (1 s before any RTT sample, then 2 s) until the user timeout, 3 s
    // after the data was first sent: the last timer is cut to fire then.
    let mut fired = Vec::new();
    while let Some(t) = c.poll_timeout() {
        c.on_timeout(t);
        fired.push(t);
        tx_all(&mut c, t);
        if c.state() == State::Closed {
            break;
        }
    }
    assert_eq!(fired.last(), Some(&ms(3020)));
    assert_eq!(c.state(), State::Closed);
    assert!(events(&mut c).contains(&Event::TimedOut));
}

#[test]
fn data_after_close_is_answered_with_a_reset() {
    let mut c = client(plain_config());
    c.close();
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), Flags::FIN | A, len 0);
    // The peer acknowledges the FIN, then sends data nobody will read: RST (RFC 1122
    // §4.2.2.13, Linux `TCPAbortOnData`), in the form that answers the segment.
    send!(c, ms(30), seg(IRS + 1, Some(ISS + 2), A));
    assert_eq!(c.state(), State::FinWait2);
    send!(c, ms(40), seg(IRS + 1, Some(ISS + 2), A).with_payload(b"late"));
    recv!(c, ms(40), seq ISS + 2, ack None::<u32>, Flags::RST, len 0);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.counters().abort_on_data, 1);
}

#[test]
fn delayed_ack_can_be_disabled() {
    let cfg = plain_config().with_delayed_ack(false);
    let mut c = client(cfg);
    send!(c, ms(20), seg(IRS + 1, Some(ISS + 1), A).with_payload(b"x"));
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 2), A, len 0);
}

#[test]
fn receive_window_full_and_zero_window() {
    let mut c = client(plain_config());
    for i in 0..10u32 {
        send!(
            c,
            ms(20),
            seg(IRS + 1 + i * 100, Some(ISS + 1), A).with_payload(&data(100, i as u8))
        );
    }
    let acks = tx_all(&mut c, ms(20));
    let last = acks.last().unwrap();
    assert_eq!((last.ack, last.window), (Some(s(IRS + 1001)), 0));
    // Beyond the window: dropped, answered by an ACK.
    send!(c, ms(21), seg(IRS + 1001, Some(ISS + 1), A).with_payload(b"zz"));
    let a = recv!(c, ms(21), seq ISS + 1, ack Some(IRS + 1001), A, len 0);
    assert_eq!(a.window, 0);
    // Reading a little does not reopen (SWS avoidance); reading enough does.
    let mut buf = [0u8; 50];
    c.recv(&mut buf);
    recv_nothing!(c, ms(22));
    let mut buf = [0u8; 200];
    c.recv(&mut buf);
    let u = recv!(c, ms(23), seq ISS + 1, ack Some(IRS + 1001), A, len 0);
    assert_eq!(u.window, 250);
}

#[test]
fn out_of_order_reassembly_with_sack() {
    let cfg = TcpConfig { sack: true, ..plain_config() };
    let mut c = Endpoint::connect(ms(0), cfg, LOCAL, REMOTE, s(ISS));
    tx_all(&mut c, ms(0));
    let mut sa = seg(IRS, Some(ISS + 1), Flags::SYN);
    sa.options.sack_permitted = true;
    sa.options.mss = Some(100);
    send!(c, ms(1), sa);
    tx_all(&mut c, ms(1));
    events(&mut c);
    let d = data(400, 9);
    // Segments 2 and 4 arrive first.
    send!(c, ms(2), seg(IRS + 101, Some(ISS + 1), A).with_payload(&d[100..200]));
    let a = recv!(c, ms(2), seq ISS + 1, ack Some(IRS + 1), A, len 0);
    assert_eq!(a.sack(), vec![(s(IRS + 101), s(IRS + 201))]);
    send!(c, ms(3), seg(IRS + 301, Some(ISS + 1), A).with_payload(&d[300..400]));
    let a = recv!(c, ms(3), seq ISS + 1, ack Some(IRS + 1), A, len 0);
    assert_eq!(a.sack(), vec![(s(IRS + 301), s(IRS + 401)), (s(IRS + 101), s(IRS + 201))]);
    // A duplicate overlapping segment changes nothing but recency.
    send!(c, ms(4), seg(IRS + 151, Some(ISS + 1), A).with_payload(&d[150..250]));
    let a = recv!(c, ms(4), seq ISS + 1, ack Some(IRS + 1), A, len 0);
    assert_eq!(a.sack(), vec![(s(IRS + 101), s(IRS + 251)), (s(IRS + 301), s(IRS + 401))]);
    assert_eq!(c.recv_queue_len(), 0, "nothing in order yet");
    assert!(!events(&mut c).contains(&Event::Readable));
    // The first segment fills the gap up to 251; ACK at once.
    send!(c, ms(5), seg(IRS + 1, Some(ISS + 1), A).with_payload(&d[..100]));
    let a = recv!(c, ms(5), seq ISS + 1, ack Some(IRS + 251), A, len 0);
    assert_eq!(a.sack(), vec![(s(IRS + 301), s(IRS + 401))]);
    send!(c, ms(6), seg(IRS + 201, Some(ISS + 1), A).with_payload(&d[200..300]));
    let a = recv!(c, ms(6), seq ISS + 1, ack Some(IRS + 401), A, len 0);
    // RFC 2883: the part already received (201..251) is reported once as a DSACK block.
    assert_eq!(a.sack(), vec![(s(IRS + 201), s(IRS + 251))]);
    assert_eq!(read_all(&mut c), d);
    assert_eq!(c.info().bytes_received, 400);
}

#[test]
fn out_of_order_fin_is_held_until_gap_fills() {
    let mut c = client(plain_config());
    send!(c, ms(20), seg(IRS + 101, Some(ISS + 1), A | Flags::FIN).with_payload(&data(50, 1)));
    assert_eq!(c.state(), State::Established);
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), A, len 0);
    send!(c, ms(21), seg(IRS + 1, Some(ISS + 1), A).with_payload(&data(100, 2)));
    recv!(c, ms(21), seq ISS + 1, ack Some(IRS + 152), A, len 0);
    assert_eq!(c.state(), State::CloseWait);
    assert_eq!(read_all(&mut c), [data(100, 2), data(50, 1)].concat());
    assert!(c.recv_finished());
}

// ---------------------------------------------------------------- retransmission

#[test]
fn rto_retransmits_with_backoff_then_times_out() {
    let cfg = TcpConfig { retries2: 3, ..plain_config() };
    let mut c = client(cfg);
    c.send(&data(100, 7));
    let first = recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), A | Flags::PSH, len 100);
    // RTT sampled on the SYN (10 ms): RTO = SRTT + max(4·RTTVAR, 200 ms) = 210 ms, as Linux's
    // `__tcp_set_rto` (the minimum bounds the variance term, not the whole RTO).
    assert_eq!(c.poll_timeout(), Some(ms(230)));
    let mut t = ms(230);
    for k in 0..3u64 {
        c.on_timeout(t);
        let again = recv!(c, t, seq ISS + 1, ack Some(IRS + 1), A | Flags::PSH, len 100);
        assert_eq!(again.payload, first.payload);
        recv_nothing!(c, t);
        let next = c.poll_timeout().unwrap();
        assert_eq!(next - t, Duration::from_millis(210 << (k + 1)));
        t = next;
    }
    assert_eq!(c.info().retransmits, 3);
    assert_eq!(c.counters().retrans_segs, 3);
    c.on_timeout(t);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(events(&mut c), vec![Event::TimedOut]);
}

#[test]
fn rto_go_back_and_ack_resumes() {
    let mut c = client(plain_config());
    c.send(&data(300, 8));
    assert_eq!(tx_all(&mut c, ms(20)).len(), 3);
    c.on_timeout(ms(230));
    // After a timeout cwnd is one segment: only the first is resent.
    let out = tx_all(&mut c, ms(230));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].seq, s(ISS + 1));
    // The ACK covers the first two: the second, never resent, had arrived, so the timeout
    // was spurious (F-RTO, RFC 5682 §3.1 step 3b, as Linux): undone, the third is in flight
    // again and nothing is resent.
    send!(c, ms(240), seg(IRS + 1, Some(ISS + 201), A));
    assert!(tx_all(&mut c, ms(240)).is_empty());
    assert_eq!(c.counters().spurious_rtos, 1);
    send!(c, ms(250), seg(IRS + 1, Some(ISS + 301), A));
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.info().backoff, 0);
}

#[test]
fn fast_retransmit_on_three_dupacks() {
    use xdptcp_stack::tcp::CongestionAlgorithm;
    let mut c = client(TcpConfig { congestion: CongestionAlgorithm::NewReno, ..plain_config() });
    c.send(&data(500, 3));
    assert_eq!(tx_all(&mut c, ms(20)).len(), 5);
    for i in 0..2 {
        send!(c, ms(30 + i), seg(IRS + 1, Some(ISS + 1), A));
        recv_nothing!(c, ms(30 + i));
    }
    send!(c, ms(33), seg(IRS + 1, Some(ISS + 1), A));
    // No PSH: the segment repeated did not end the write (Linux, `tcp::push`).
    let r = recv!(c, ms(33), seq ISS + 1, ack Some(IRS + 1), A, len 100);
    assert_eq!(r.payload, data(500, 3)[..100]);
    assert_eq!(c.counters().fast_retransmits, 1);
    // RFC 6675 §5 step 4.2: cwnd = ssthresh = FlightSize / 2; no window inflation (the
    // duplicate ACKs lower the pipe estimate instead; PRR is used with RACK only).
    assert_eq!(c.info().ssthresh, 250);
    assert_eq!(c.info().cwnd, 250);
    // Partial ACK: the next hole is retransmitted at once.
    send!(c, ms(40), seg(IRS + 1, Some(ISS + 201), A));
    recv!(c, ms(40), seq ISS + 201, ack Some(IRS + 1), A, len 100);
    // Full ACK ends recovery.
    send!(c, ms(50), seg(IRS + 1, Some(ISS + 501), A));
    // RFC 6582 §3.2 step 3 option 1: min(ssthresh, max(FlightSize, SMSS) + SMSS).
    assert_eq!(c.info().cwnd, 200);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn zero_window_probe_and_reopen() {
    let mut c = client(plain_config());
    send!(c, ms(15), seg(IRS + 1, Some(ISS + 1), A).with_window(0));
    c.send(&data(150, 4));
    recv_nothing!(c, ms(20));
    // Persist timer at the RTO (210 ms), then backing off.
    let t1 = c.poll_timeout().unwrap();
    assert_eq!(t1, ms(230));
    c.on_timeout(t1);
    recv!(c, t1, seq ISS, ack Some(IRS + 1), A, len 0);
    let t2 = c.poll_timeout().unwrap();
    assert_eq!(t2 - t1, Duration::from_millis(420));
    // The probe's answer still shows a zero window: keep probing.
    send!(c, t1 + Duration::from_millis(5), seg(IRS + 1, Some(ISS + 1), A).with_window(0));
    c.on_timeout(t2);
    recv!(c, t2, seq ISS, ack Some(IRS + 1), A, len 0);
    // The window opens: data flows, no more probes.
    send!(c, t2 + Duration::from_millis(5), seg(IRS + 1, Some(ISS + 1), A).with_window(1000));
    let t3 = t2 + Duration::from_millis(5);
    recv!(c, t3, seq ISS + 1, ack Some(IRS + 1), A, len 100);
    // Nagle holds the 50-byte tail until the first segment is acknowledged.
    recv_nothing!(c, t3);
    assert_eq!(c.poll_timeout(), Some(t3 + Duration::from_millis(210)), "RTO, not persist");
    send!(c, t3, seg(IRS + 1, Some(ISS + 101), A).with_window(1000));
    recv!(c, t3, seq ISS + 101, ack Some(IRS + 1), A | Flags::PSH, len 50);
}

/// `TCP_INFO`'s `tcpi_rwnd_limited` and `tcpi_busy_time` (Linux's send chronographs, as
/// google's `tcp-info-rwnd-limited.pkt` checks them): time with data held back by the peer's
/// window counts as both, time with data in flight as busy only, idle time as neither.
#[test]
fn window_limited_and_busy_time_are_kept() {
    let mut c = client(plain_config());
    send!(c, ms(15), seg(IRS + 1, Some(ISS + 1), A).with_window(0));
    c.send(&data(100, 4));
    recv_nothing!(c, ms(20));
    assert_eq!(c.info().chrono.rwnd_limited(ms(120)), Duration::from_millis(100));
    // The window opens before the probe timer: the data leaves, window-limited time stops.
    send!(c, ms(150), seg(IRS + 1, Some(ISS + 1), A).with_window(1000));
    recv!(c, ms(150), seq ISS + 1, ack Some(IRS + 1), A | Flags::PSH, len 100);
    assert_eq!(c.info().chrono.rwnd_limited(ms(170)), Duration::from_millis(130));
    assert_eq!(c.info().chrono.busy_time(ms(170)), Duration::from_millis(150));
    // Everything acknowledged: idle from then on.
    send!(c, ms(180), seg(IRS + 1, Some(ISS + 101), A).with_window(1000));
    recv_nothing!(c, ms(180));
    assert_eq!(c.info().chrono.busy_time(ms(500)), Duration::from_millis(160));
    assert_eq!(c.info().chrono.rwnd_limited(ms(500)), Duration::from_millis(130));
}

/// With nothing in flight and a window smaller than the next segment, the data waits for the
/// persist timer, which sends what fits (Linux `tcp_snd_wnd_test`, `tcp_write_wakeup`), rather
/// than a sliver at once (`tcp-info-rwnd-limited.pkt` writes 1000 bytes into a 10-byte window).
#[test]
fn a_window_too_small_for_a_segment_waits_for_the_persist_timer() {
    let mut c = client(plain_config());
    send!(c, ms(15), seg(IRS + 1, Some(ISS + 1), A).with_window(10));
    c.send(&data(100, 4));
    recv_nothing!(c, ms(20));
    // The persist timer, at the RTO (210 ms), sends the 10 bytes that fit, with
    // PSH as Linux marks them.
    let t = c.poll_timeout().unwrap();
    assert_eq!(t, ms(230));
    c.on_timeout(t);
    recv!(c, t, seq ISS + 1, ack Some(IRS + 1), A | Flags::PSH, len 10);
    recv_nothing!(c, t);
    // The window opens: the rest goes at once.
    send!(c, ms(240), seg(IRS + 1, Some(ISS + 11), A).with_window(1000));
    recv!(c, ms(240), seq ISS + 11, ack Some(IRS + 1), A | Flags::PSH, len 90);
}

#[test]
fn receiver_answers_zero_window_probe() {
    let mut c = client(plain_config());
    for i in 0..10u32 {
        send!(c, ms(20), seg(IRS + 1 + i * 100, Some(ISS + 1), A).with_payload(&data(100, 0)));
    }
    tx_all(&mut c, ms(20));
    // A one-byte probe at RCV.NXT into the zero window: not accepted, but answered.
    send!(c, ms(30), seg(IRS + 1001, Some(ISS + 1), A).with_payload(b"p"));
    let a = recv!(c, ms(30), seq ISS + 1, ack Some(IRS + 1001), A, len 0);
    assert_eq!(a.window, 0);
    // The Linux-form probe (old sequence number) is answered too.
    send!(c, ms(31), seg(IRS + 1000, Some(ISS + 1), A));
    recv!(c, ms(31), seq ISS + 1, ack Some(IRS + 1001), A, len 0);
}

// ---------------------------------------------------------------- closing

#[test]
fn active_close_through_time_wait() {
    let mut c = client(plain_config());
    c.send(b"bye");
    c.close();
    assert_eq!(c.state(), State::FinWait1);
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), A | Flags::PSH | Flags::FIN, len 3);
    assert_eq!(c.send(b"more"), 0, "write side closed");
    send!(c, ms(30), seg(IRS + 1, Some(ISS + 5), A));
    assert_eq!(c.state(), State::FinWait2);
    send!(c, ms(40), seg(IRS + 1, Some(ISS + 5), A | Flags::FIN));
    assert_eq!(c.state(), State::TimeWait);
    recv!(c, ms(40), seq ISS + 5, ack Some(IRS + 2), A, len 0);
    assert_eq!(c.poll_timeout(), Some(ms(60_040)));
    // A retransmitted FIN is ACKed again and restarts 2 MSL.
    send!(c, ms(1000), seg(IRS + 1, Some(ISS + 5), A | Flags::FIN));
    recv!(c, ms(1000), seq ISS + 5, ack Some(IRS + 2), A, len 0);
    assert_eq!(c.poll_timeout(), Some(ms(61_000)));
    c.on_timeout(ms(61_000));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(events(&mut c), vec![Event::PeerClosed, Event::Closed]);
    assert_eq!(c.counters().curr_estab, 0);
}

#[test]
fn fin_wait1_to_time_wait_when_fin_and_ack_arrive_together() {
    let mut c = client(plain_config());
    c.close();
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), A | Flags::FIN, len 0);
    send!(c, ms(30), seg(IRS + 1, Some(ISS + 2), A | Flags::FIN));
    assert_eq!(c.state(), State::TimeWait);
    recv!(c, ms(30), seq ISS + 2, ack Some(IRS + 2), A, len 0);
}

#[test]
fn passive_close_through_last_ack() {
    let mut c = client(plain_config());
    send!(c, ms(20), seg(IRS + 1, Some(ISS + 1), A | Flags::FIN).with_payload(b"done"));
    assert_eq!(c.state(), State::CloseWait);
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 6), A, len 0);
    assert_eq!(events(&mut c), vec![Event::Readable, Event::PeerClosed]);
    assert_eq!(read_all(&mut c), b"done");
    // Still allowed to send in CLOSE-WAIT.
    assert_eq!(c.send(b"reply"), 5);
    c.close();
    assert_eq!(c.state(), State::LastAck);
    recv!(c, ms(25), seq ISS + 1, ack Some(IRS + 6), A | Flags::PSH | Flags::FIN, len 5);
    send!(c, ms(30), seg(IRS + 6, Some(ISS + 7), A));
    assert_eq!(c.state(), State::Closed);
    assert!(events(&mut c).contains(&Event::Closed));
    assert!(c.is_closed());
}

#[test]
fn simultaneous_close_through_closing() {
    let mut c = client(plain_config());
    c.close();
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), A | Flags::FIN, len 0);
    // The peer's FIN crossed ours: it does not acknowledge our FIN.
    send!(c, ms(21), seg(IRS + 1, Some(ISS + 1), A | Flags::FIN));
    assert_eq!(c.state(), State::Closing);
    recv!(c, ms(21), seq ISS + 2, ack Some(IRS + 2), A, len 0);
    send!(c, ms(22), seg(IRS + 2, Some(ISS + 2), A));
    assert_eq!(c.state(), State::TimeWait);
}

#[test]
fn fin_is_retransmitted() {
    let mut c = client(plain_config());
    c.close();
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), A | Flags::FIN, len 0);
    let t = c.poll_timeout().unwrap();
    c.on_timeout(t);
    recv!(c, t, seq ISS + 1, ack Some(IRS + 1), A | Flags::FIN, len 0);
}

#[test]
fn half_close_keeps_reading() {
    let mut c = client(plain_config());
    c.shutdown_write();
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), A | Flags::FIN, len 0);
    send!(c, ms(30), seg(IRS + 1, Some(ISS + 2), A));
    assert_eq!(c.state(), State::FinWait2);
    send!(c, ms(40), seg(IRS + 1, Some(ISS + 2), A).with_payload(&data(100, 6)));
    send!(c, ms(41), seg(IRS + 101, Some(ISS + 2), A).with_payload(&data(100, 7)));
    recv!(c, ms(41), seq ISS + 2, ack Some(IRS + 201), A, len 0);
    assert_eq!(read_all(&mut c), [data(100, 6), data(100, 7)].concat());
    send!(c, ms(50), seg(IRS + 201, Some(ISS + 2), A | Flags::FIN));
    assert_eq!(c.state(), State::TimeWait);
}

#[test]
fn close_with_unread_data_resets() {
    let mut c = client(plain_config());
    send!(c, ms(20), seg(IRS + 1, Some(ISS + 1), A).with_payload(b"unread"));
    tx_all(&mut c, ms(20));
    c.close();
    assert_eq!(c.state(), State::Closed);
    recv!(c, ms(21), seq ISS + 1, ack Some(IRS + 7), Flags::RST | A, len 0);
    assert_eq!(c.counters().out_rsts, 1);
    assert!(c.is_closed());
}

#[test]
fn abort_sends_rst() {
    let mut c = client(plain_config());
    c.send(b"queued");
    c.abort();
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), Flags::RST | A, len 0);
    recv_nothing!(c, ms(20));
    assert_eq!(events(&mut c), vec![Event::Closed]);
}

// ---------------------------------------------------------------- resets and RFC 5961

/// Brings a fresh client into `state` and returns it with the next peer sequence number.
fn client_in(state: State) -> (Endpoint, u32) {
    let mut c = client(plain_config());
    let mut peer_seq = IRS + 1;
    match state {
        State::Established => {}
        State::FinWait1 => {
            c.close();
            tx_all(&mut c, ms(20));
        }
        State::FinWait2 => {
            c.close();
            tx_all(&mut c, ms(20));
            send!(c, ms(21), seg(peer_seq, Some(ISS + 2), A));
        }
        State::CloseWait => {
            send!(c, ms(21), seg(peer_seq, Some(ISS + 1), A | Flags::FIN));
            peer_seq += 1;
        }
        State::LastAck => {
            send!(c, ms(21), seg(peer_seq, Some(ISS + 1), A | Flags::FIN));
            peer_seq += 1;
            c.close();
        }
        State::Closing => {
            c.close();
            tx_all(&mut c, ms(20));
            send!(c, ms(21), seg(peer_seq, Some(ISS + 1), A | Flags::FIN));
            peer_seq += 1;
        }
        State::TimeWait => {
            c.close();
            tx_all(&mut c, ms(20));
            send!(c, ms(21), seg(peer_seq, Some(ISS + 2), A | Flags::FIN));
            peer_seq += 1;
        }
        _ => unreachable!(),
    }
    assert_eq!(c.state(), state);
    tx_all(&mut c, ms(22));
    events(&mut c);
    (c, peer_seq)
}

#[test]
fn rst_in_each_state() {
    let cases = [
        (State::Established, Some(Event::Reset)),
        (State::FinWait1, Some(Event::Reset)),
        (State::FinWait2, Some(Event::Reset)),
        (State::CloseWait, Some(Event::Reset)),
        (State::LastAck, Some(Event::Closed)),
        (State::Closing, Some(Event::Closed)),
        (State::TimeWait, None), // RFC 1337
    ];
    for (state, expect) in cases {
        let (mut c, peer) = client_in(state);
        send!(c, ms(30), seg(peer, None, Flags::RST));
        match expect {
            Some(e) => {
                assert_eq!(c.state(), State::Closed, "{state:?}");
                assert_eq!(events(&mut c), vec![e], "{state:?}");
                assert_eq!(c.poll_timeout(), None, "{state:?}");
            }
            None => assert_eq!(c.state(), State::TimeWait),
        }
        recv_nothing!(c, ms(30));
    }
    // SYN-RECEIVED: refused.
    let syn = seg(IRS, None, Flags::SYN);
    let mut c =
        Endpoint::accept_syn(ms(0), plain_config(), LOCAL, REMOTE, s(ISS), &syn.as_segment());
    tx_all(&mut c, ms(0));
    send!(c, ms(1), seg(IRS + 1, None, Flags::RST));
    assert_eq!(events(&mut c), vec![Event::Refused]);
}

#[test]
fn rst_in_window_gets_challenge_ack() {
    let mut c = client(plain_config());
    assert_eq!(send!(c, ms(20), seg(IRS + 50, None, Flags::RST)), SegmentVerdict::Dropped);
    assert_eq!(c.state(), State::Established);
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), A, len 0);
    // Outside the window: silently dropped.
    send!(c, ms(21), seg(IRS + 5000, None, Flags::RST));
    recv_nothing!(c, ms(21));
    assert_eq!(c.counters().challenge_acks, 1);
}

#[test]
fn syn_in_established_gets_challenge_ack() {
    let mut c = client(plain_config());
    send!(c, ms(20), seg(IRS + 1, None, Flags::SYN));
    assert_eq!(c.state(), State::Established);
    recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), A, len 0);
    // Even out of window.
    send!(c, ms(21), seg(IRS + 90_000, None, Flags::SYN));
    recv!(c, ms(21), seq ISS + 1, ack Some(IRS + 1), A, len 0);
}

#[test]
fn challenge_acks_are_rate_limited() {
    let cfg = TcpConfig { challenge_ack_limit: 2, ..plain_config() };
    let mut c = client(cfg);
    for i in 0..5 {
        send!(c, ms(20 + i), seg(IRS + 10, None, Flags::RST));
    }
    assert_eq!(tx_all(&mut c, ms(25)).len(), 1, "ACKs coalesce; the count is what matters");
    assert_eq!(c.counters().challenge_acks, 2);
    assert_eq!(c.counters().challenge_acks_limited, 3);
    // A second later the budget is back.
    send!(c, ms(1100), seg(IRS + 10, None, Flags::RST));
    assert_eq!(c.counters().challenge_acks, 3);
}

#[test]
fn ack_range_checks() {
    let mut c = client(plain_config());
    c.send(&data(100, 1));
    tx_all(&mut c, ms(20));
    // Acknowledges data never sent: dropped, ACK sent, data not taken.
    send!(c, ms(21), seg(IRS + 1, Some(ISS + 500), A).with_payload(b"x"));
    recv!(c, ms(21), seq ISS + 101, ack Some(IRS + 1), A, len 0);
    assert_eq!(c.recv_queue_len(), 0);
    // Far too old (more than the max window behind): challenge ACK.
    send!(c, ms(22), seg(IRS + 1, Some(ISS.wrapping_sub(5000)), A).with_payload(b"x"));
    recv!(c, ms(22), seq ISS + 101, ack Some(IRS + 1), A, len 0);
    assert_eq!(c.counters().challenge_acks, 2);
    assert_eq!(c.recv_queue_len(), 0);
}

#[test]
fn old_duplicate_data_is_acked_not_delivered() {
    let mut c = client(plain_config());
    send!(c, ms(20), seg(IRS + 1, Some(ISS + 1), A).with_payload(b"abc"));
    tx_all(&mut c, ms(20));
    c.on_timeout(ms(60));
    tx_all(&mut c, ms(60));
    send!(c, ms(70), seg(IRS + 1, Some(ISS + 1), A).with_payload(b"abc"));
    recv!(c, ms(70), seq ISS + 1, ack Some(IRS + 4), A, len 0);
    // Partial overlap: only the new tail is taken.
    send!(c, ms(71), seg(IRS + 2, Some(ISS + 1), A).with_payload(b"bcdef"));
    assert_eq!(read_all(&mut c), b"abcdef");
}

#[test]
fn paws_drops_old_timestamps() {
    let cfg = TcpConfig { timestamps: true, ..plain_config() };
    let mut c = Endpoint::connect(ms(0), cfg, LOCAL, REMOTE, s(ISS));
    let syn = tx(&mut c, ms(0)).unwrap();
    let our_ts = syn.options.timestamps.unwrap().0;
    send!(c, ms(10), seg(IRS, Some(ISS + 1), Flags::SYN).with_ts(1000, our_ts));
    tx_all(&mut c, ms(10));
    send!(c, ms(20), seg(IRS + 1, Some(ISS + 1), A).with_payload(b"new").with_ts(1010, our_ts));
    assert_eq!(c.recv_queue_len(), 3);
    tx_all(&mut c, ms(20));
    // An older timestamp: PAWS drops it and ACKs.
    let v =
        send!(c, ms(30), seg(IRS + 4, Some(ISS + 1), A).with_payload(b"old").with_ts(900, our_ts));
    assert_eq!(v, SegmentVerdict::Dropped);
    let a = recv!(c, ms(30), seq ISS + 1, ack Some(IRS + 4), A, len 0);
    assert_eq!(a.options.timestamps.map(|t| t.1), Some(1010), "TS.Recent echoed");
    assert_eq!(c.recv_queue_len(), 3);
    assert_eq!(c.counters().paws_drops, 1);
    // A RST is exempt from PAWS.
    send!(c, ms(31), seg(IRS + 4, None, Flags::RST).with_ts(1, 0));
    assert_eq!(c.state(), State::Closed);
}

#[test]
fn time_wait_syn_and_verdict() {
    let (mut c, peer) = client_in(State::TimeWait);
    let v = send!(c, ms(40), seg(peer + 100_000, None, Flags::SYN));
    assert_eq!(v, SegmentVerdict::TimeWaitSyn);
    // An old SYN is challenged instead.
    let v = send!(c, ms(41), seg(peer - 10, None, Flags::SYN));
    assert_eq!(v, SegmentVerdict::Dropped);
    recv!(c, ms(41), seq ISS + 2, ack Some(peer), A, len 0);
}

// ---------------------------------------------------------------- keepalive

#[test]
fn keepalive_probes_then_reset() {
    let mut c = client(plain_config());
    c.set_keepalive(true);
    c.set_keepalive_params(Duration::from_secs(10), Duration::from_secs(2), 3);
    // Idle counts from the last segment received (the SYN-ACK at 10 ms).
    assert_eq!(c.poll_timeout(), Some(ms(10_010)));
    c.on_timeout(ms(10_010));
    recv!(c, ms(10_010), seq ISS, ack Some(IRS + 1), A, len 0);
    // An answer resets the count and the idle time.
    send!(c, ms(10_020), seg(IRS + 1, Some(ISS + 1), A));
    assert_eq!(c.poll_timeout(), Some(ms(20_020)));
    let mut t = ms(20_020);
    for _ in 0..3 {
        c.on_timeout(t);
        recv!(c, t, seq ISS, ack Some(IRS + 1), A, len 0);
        let next = c.poll_timeout().unwrap();
        assert_eq!(next - t, Duration::from_secs(2));
        t = next;
    }
    c.on_timeout(t);
    assert_eq!(c.state(), State::Closed);
    recv!(c, t, seq ISS + 1, ack Some(IRS + 1), Flags::RST | A, len 0);
    assert_eq!(events(&mut c), vec![Event::TimedOut]);
    assert_eq!(c.counters().keepalive_probes, 4);
}

#[test]
fn keepalive_off_by_default() {
    let c = client(plain_config());
    assert_eq!(c.poll_timeout(), None);
}

// ---------------------------------------------------------------- zero-copy API

#[test]
fn zero_copy_send_and_receive() {
    let mut c = client(plain_config());
    {
        // The first contiguous piece: the rest of the tail chunk, or a fresh one.
        let a = c.send_slices();
        assert_eq!(a.len(), 4096, "a whole chunk within the 4096-byte send buffer");
        a[..5].copy_from_slice(b"hello");
    }
    assert_eq!(c.send_commit(5), 5);
    assert_eq!(c.send_slices().len(), 4091, "the rest of that chunk, and the buffer");
    assert_eq!(c.send_commit(0), 0);
    let x = recv!(c, ms(20), seq ISS + 1, ack Some(IRS + 1), A | Flags::PSH, len 5);
    assert_eq!(x.payload, b"hello");
    send!(c, ms(21), seg(IRS + 1, Some(ISS + 6), A).with_payload(b"world"));
    let (a, b) = c.recv_slices();
    assert_eq!([a, b].concat(), b"world");
    assert_eq!(c.recv_consume(2), 2);
    assert_eq!(read_all(&mut c), b"rld");
}

#[test]
fn syn_cookie_connection_is_established() {
    use xdptcp_stack::tcp::CookieOptions;
    let ack = seg(IRS + 1, Some(ISS + 1), A).with_payload(b"GET");
    let opts =
        CookieOptions { mss: 100, window_scale: None, sack_permitted: false, timestamps: false };
    let mut c = Endpoint::from_cookie(
        ms(0),
        plain_config(),
        LOCAL,
        REMOTE,
        s(ISS),
        opts,
        &ack.as_segment(),
    );
    assert_eq!(c.state(), State::Established);
    assert_eq!(read_all(&mut c), b"GET");
    assert_eq!(c.info().snd_mss, 100);
    c.send(b"200");
    let out = tx_all(&mut c, ms(1));
    assert_eq!(out[0].seq, s(ISS + 1));
    assert_eq!(out[0].ack, Some(s(IRS + 4)));
}

#[test]
fn out_of_order_segment_is_trimmed_to_the_window() {
    let mut c = client(plain_config());
    let d = data(1100, 3);
    // Ends 50 bytes past the 1000-byte window: only the part inside is kept.
    send!(c, ms(20), seg(IRS + 901, Some(ISS + 1), A).with_payload(&d[900..1050]));
    tx_all(&mut c, ms(20));
    for i in 0..9u32 {
        let o = (i * 100) as usize;
        send!(c, ms(21), seg(IRS + 1 + i * 100, Some(ISS + 1), A).with_payload(&d[o..o + 100]));
    }
    let acks = tx_all(&mut c, ms(21));
    assert_eq!(acks.last().unwrap().ack, Some(s(IRS + 1001)));
    assert_eq!(read_all(&mut c), d[..1000]);
}

// ---------------------------------------------------------------- options, counters, plug-ins

/// A client with every option negotiated (timestamps, SACK, window scale 7 from the peer).
fn client_with_options() -> (Endpoint, u32) {
    let cfg = TcpConfig {
        mss: 112,
        timestamps: true,
        sack: true,
        window_scaling: true,
        ..plain_config()
    };
    let mut c = Endpoint::connect(ms(0), cfg, LOCAL, REMOTE, s(ISS));
    let syn = tx(&mut c, ms(0)).unwrap();
    let our_ts = syn.options.timestamps.unwrap().0;
    let mut sa = seg(IRS, Some(ISS + 1), Flags::SYN).with_ts(500, our_ts);
    sa.options.mss = Some(112);
    sa.options.window_scale = Some(7);
    sa.options.sack_permitted = true;
    send!(c, ms(10), sa);
    tx_all(&mut c, ms(10));
    events(&mut c);
    (c, our_ts)
}

#[test]
fn timestamps_on_every_segment_and_three_sack_blocks() {
    let (mut c, _) = client_with_options();
    assert_eq!(c.info().snd_mss, 100, "112 minus 12 bytes of timestamp option");
    // Four out-of-order segments: at most three SACK blocks fit beside timestamps.
    for (i, tsval) in [(1u32, 501u32), (3, 502), (5, 503), (7, 504)] {
        send!(
            c,
            ms(20),
            seg(IRS + 1 + i * 100, Some(ISS + 1), A).with_payload(&data(100, 0)).with_ts(tsval, 0)
        );
    }
    let acks = tx_all(&mut c, ms(20));
    let last = acks.last().unwrap();
    assert_eq!(last.sack().len(), 3);
    assert_eq!(last.sack()[0], (s(IRS + 701), s(IRS + 801)), "most recent first");
    for a in &acks {
        // TS.Recent stays at the SYN-ACK's value: none of these covered Last.ACK.sent.
        assert_eq!(a.options.timestamps.map(|t| t.1), Some(500));
    }
    c.send(b"data");
    let d = tx(&mut c, ms(30)).unwrap();
    assert!(d.options.timestamps.is_some(), "data carries timestamps too");
    // In-order data updates TS.Recent.
    send!(c, ms(31), seg(IRS + 1, Some(ISS + 1), A).with_payload(&data(100, 0)).with_ts(600, 0));
    let a = tx(&mut c, ms(31)).unwrap();
    assert_eq!(a.options.timestamps.map(|t| t.1), Some(600));
}

#[test]
fn peer_window_is_scaled() {
    let (mut c, _) = client_with_options();
    // Window field 3 at shift 7 = 384 bytes.
    send!(c, ms(15), seg(IRS + 1, Some(ISS + 1), A).with_window(3));
    assert_eq!(c.info().snd_wnd, 384);
    c.send(&data(1000, 1));
    let out = tx_all(&mut c, ms(20));
    // Three full segments; the 84-byte rest waits (sender SWS avoidance).
    assert_eq!(out.iter().map(|x| x.payload.len()).collect::<Vec<_>>(), vec![100, 100, 100]);
    send!(c, ms(30), seg(IRS + 1, Some(ISS + 301), A).with_window(3));
    let out = tx_all(&mut c, ms(30));
    assert_eq!(out[0].seq, s(ISS + 301));
    assert_eq!(out.iter().map(|x| x.payload.len()).sum::<usize>(), 300);
}

#[test]
fn timestamp_rtt_sampling() {
    let (mut c, _) = client_with_options();
    c.send(b"x");
    let d = tx(&mut c, ms(100)).unwrap();
    let tsval = d.options.timestamps.unwrap().0;
    send!(c, ms(180), seg(IRS + 1, Some(ISS + 2), A).with_ts(700, tsval));
    // SYN exchange sampled 10 ms, this one 80 ms: SRTT = 7/8*10 + 1/8*80 = 18.75 ms.
    assert_eq!(c.info().rtt, Some(Duration::from_micros(18_750)));
}

#[test]
fn urgent_pointer_is_ignored_and_data_delivered_in_line() {
    let mut c = client(plain_config());
    send!(c, ms(20), seg(IRS + 1, Some(ISS + 1), A | Flags::URG).with_payload(b"urgent!"));
    assert_eq!(read_all(&mut c), b"urgent!");
}

#[test]
fn zero_window_under_flight_does_not_time_out_while_peer_answers() {
    let cfg = TcpConfig { retries2: 2, ..plain_config() };
    let mut c = client(cfg);
    c.send(&data(100, 1));
    tx_all(&mut c, ms(20));
    // The peer shrinks its window to zero without acknowledging the segment.
    send!(c, ms(25), seg(IRS + 1, Some(ISS + 1), A).with_window(0));
    let mut t = c.poll_timeout().unwrap();
    for _ in 0..5 {
        c.on_timeout(t);
        recv!(c, t, seq ISS + 1, ack Some(IRS + 1), A | Flags::PSH, len 100);
        send!(c, t, seg(IRS + 1, Some(ISS + 1), A).with_window(0));
        t = c.poll_timeout().unwrap();
    }
    assert_eq!(c.state(), State::Established, "more retries than retries2, still open");
    // Once the peer stays silent for longer than the maximum RTO, give up.
    for _ in 0..30 {
        if c.state() == State::Closed {
            break;
        }
        c.on_timeout(t);
        tx_all(&mut c, t);
        t = match c.poll_timeout() {
            Some(t) => t,
            None => break,
        };
    }
    assert_eq!(c.state(), State::Closed);
    assert_eq!(events(&mut c), vec![Event::TimedOut]);
}

#[test]
fn counters_are_deltas_that_sum() {
    use xdptcp_stack::tcp::TcpCounters;
    let mut total = TcpCounters::default();
    let mut c = client(plain_config());
    total.add(&c.take_counters());
    assert_eq!(total.active_opens, 1);
    assert_eq!(total.curr_estab, 1);
    assert_eq!(total.out_segs, 2, "SYN and ACK");
    assert_eq!(total.in_segs, 1);
    assert_eq!(c.take_counters(), TcpCounters::default(), "taken counters are zeroed");
    c.abort();
    tx_all(&mut c, ms(20));
    total.add(&c.take_counters());
    assert_eq!(total.curr_estab, 0);
    assert_eq!(total.out_rsts, 1);
}

#[derive(Debug)]
struct FixedWindow {
    inits: usize,
    window: usize,
}

impl xdptcp_stack::tcp::CongestionControl for FixedWindow {
    fn init(&mut self, _initial_window: usize) {
        self.inits += 1;
    }
    fn window(&self) -> usize {
        self.window + self.inits * 1_000_000 * usize::from(self.inits != 1)
    }
    fn ssthresh(&self) -> usize {
        usize::MAX
    }
    fn on_ack(&mut self, _: &xdptcp_stack::tcp::AckSample) {}
    fn on_congestion_event(&mut self, _: Instant, _: usize, _: usize) {}
    fn on_recovery_exit(&mut self, _: Instant, _: usize, _: usize) {}
    fn on_rto(&mut self, _: Instant, _: usize, _: usize) {}
    fn undo(&mut self) {}
}

#[test]
fn pluggable_congestion_control_is_consulted() {
    let mut c = Endpoint::connect(ms(0), plain_config(), LOCAL, REMOTE, s(ISS));
    c.set_congestion_control(Box::new(FixedWindow { inits: 0, window: 200 }));
    tx_all(&mut c, ms(0));
    let mut sa = seg(IRS, Some(ISS + 1), Flags::SYN);
    sa.options.mss = Some(100);
    send!(c, ms(10), sa);
    tx_all(&mut c, ms(10));
    c.send(&data(1000, 0));
    let out = tx_all(&mut c, ms(20));
    // init ran exactly once (else the window would be huge) and the window held to 200.
    assert_eq!(out.iter().map(|x| x.payload.len()).sum::<usize>(), 200);
}

#[test]
fn synack_retries_then_timeout() {
    let cfg = TcpConfig { synack_retries: 2, ..plain_config() };
    let syn = seg(IRS, None, Flags::SYN);
    let mut c = Endpoint::accept_syn(ms(0), cfg, LOCAL, REMOTE, s(ISS), &syn.as_segment());
    recv!(c, ms(0), seq ISS, ack Some(IRS + 1), Flags::SYN | A, len 0);
    for _ in 0..2 {
        let t = c.poll_timeout().unwrap();
        c.on_timeout(t);
        recv!(c, t, seq ISS, ack Some(IRS + 1), Flags::SYN | A, len 0);
    }
    let t = c.poll_timeout().unwrap();
    c.on_timeout(t);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(events(&mut c), vec![Event::TimedOut]);
    assert_eq!(c.counters().attempt_fails, 1);
}

#[test]
fn unanswered_window_probes_time_out() {
    let cfg = TcpConfig { retries2: 3, ..plain_config() };
    let mut c = client(cfg);
    send!(c, ms(15), seg(IRS + 1, Some(ISS + 1), A).with_window(0));
    c.send(b"stuck");
    recv_nothing!(c, ms(20));
    let mut probes = 0;
    while let Some(t) = c.poll_timeout() {
        c.on_timeout(t);
        probes += tx_all(&mut c, t).len();
        assert!(probes < 10);
    }
    assert_eq!(probes, 3);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(events(&mut c), vec![Event::TimedOut]);
}

#[test]
fn data_queued_before_handshake_goes_after_it() {
    let mut c = Endpoint::connect(ms(0), plain_config(), LOCAL, REMOTE, s(ISS));
    assert_eq!(c.send(b"early"), 5);
    c.shutdown_write();
    recv!(c, ms(0), seq ISS, ack None::<u32>, Flags::SYN, len 0);
    recv_nothing!(c, ms(0));
    let mut sa = seg(IRS, Some(ISS + 1), Flags::SYN);
    sa.options.mss = Some(100);
    send!(c, ms(10), sa);
    assert_eq!(c.state(), State::FinWait1);
    recv!(c, ms(10), seq ISS + 1, ack Some(IRS + 1), A | Flags::PSH | Flags::FIN, len 5);
}

#[test]
fn lost_syn_means_three_second_rto_for_data() {
    let mut c = Endpoint::connect(ms(0), plain_config(), LOCAL, REMOTE, s(ISS));
    tx_all(&mut c, ms(0));
    c.on_timeout(ms(1000));
    tx_all(&mut c, ms(1000));
    let mut sa = seg(IRS, Some(ISS + 1), Flags::SYN);
    sa.options.mss = Some(100);
    send!(c, ms(1010), sa);
    tx_all(&mut c, ms(1010));
    assert_eq!(c.info().rtt, None, "Karn: no sample from a retransmitted SYN");
    c.send(b"x");
    tx_all(&mut c, ms(1020));
    // RFC 6298 §5.7: 3 s, not the 1 s initial RTO.
    assert_eq!(c.poll_timeout(), Some(ms(4020)));
}

#[test]
fn no_fast_retransmit_for_dupacks_of_data_sent_before_a_timeout() {
    let mut c = client(plain_config());
    c.send(&data(500, 3));
    assert_eq!(tx_all(&mut c, ms(20)).len(), 5);
    c.on_timeout(ms(230));
    assert_eq!(tx_all(&mut c, ms(230)).len(), 1);
    for i in 0..4 {
        send!(c, ms(240 + i), seg(IRS + 1, Some(ISS + 1), A));
    }
    recv_nothing!(c, ms(250));
    assert_eq!(c.counters().fast_retransmits, 0);
}

/// RFC 9293 §3.10.4, CLOSE in SYN-RECEIVED: with nothing sent yet the FIN may go at once, or be
/// queued "for processing after entering ESTABLISHED". Like Linux we queue it: the FIN leaves
/// right after the handshake's ACK, and the connection is in FIN-WAIT-1 (arc 16 of the state
/// diagram, taken through ESTABLISHED without an event in between).
#[test]
fn close_in_syn_received_sends_fin_after_the_handshake() {
    let syn = seg(IRS, None, Flags::SYN);
    let mut c =
        Endpoint::accept_syn(ms(0), plain_config(), LOCAL, REMOTE, s(ISS), &syn.as_segment());
    recv!(c, ms(0), seq ISS, ack Some(IRS + 1), Flags::SYN | A, len 0);
    c.close();
    recv_nothing!(c, ms(1));
    send!(c, ms(10), seg(IRS + 1, Some(ISS + 1), A));
    assert_eq!(c.state(), State::FinWait1);
    recv!(c, ms(10), seq ISS + 1, ack Some(IRS + 1), A | Flags::FIN, len 0);
    send!(c, ms(20), seg(IRS + 1, Some(ISS + 2), A));
    assert_eq!(c.state(), State::FinWait2);
}

/// RFC 7323 §4.3: a peer whose ACK of our retransmission was lost cannot advance TS.Recent, so
/// its later ACKs echo a TSval from before the timeout. Taking RTT from that echo would add the
/// whole timeout to SRTT and inflate the RTO to many seconds; such echoes give no sample, and
/// the first echo of a TSval sent after the timeout samples normally again.
#[test]
fn stale_timestamp_echo_after_a_timeout_gives_no_rtt_sample() {
    let cfg = TcpConfig { mss: 100, window_scaling: false, sack: false, ..TcpConfig::default() };
    let mut c = Endpoint::connect(ms(0), cfg, LOCAL, REMOTE, s(ISS));
    let syn = tx(&mut c, ms(0)).expect("SYN");
    let mut synack =
        seg(IRS, Some(ISS + 1), Flags::SYN).with_ts(1, syn.options.timestamps.unwrap().0);
    synack.options.mss = Some(100);
    rx(&mut c, ms(10), &synack);
    tx_all(&mut c, ms(10));
    assert_eq!(c.send(&[7u8; 50]), 50);
    let first = tx(&mut c, ms(20)).expect("data");
    let stale_tsval = first.options.timestamps.unwrap().0;
    // The ACK is lost: the timer fires and backs off twice.
    let mut now = ms(20);
    for _ in 0..2 {
        now = c.poll_timeout().expect("retransmission timer");
        c.on_timeout(now);
        let again = tx(&mut c, now).expect("retransmission");
        assert_eq!(again.seq, first.seq);
    }
    let rtt_before = c.info().rtt.expect("SYN RTT");
    // The peer's ACK echoes the pre-timeout TSval.
    now += Duration::from_millis(5);
    send!(c, now, seg(IRS + 1, Some(ISS + 51), A).with_ts(2, stale_tsval));
    assert_eq!(c.info().rtt, Some(rtt_before), "no sample from a stale echo");
    assert!(c.info().rto < Duration::from_secs(2), "rto {:?}", c.info().rto);
    // New data and a fresh echo sample again.
    assert_eq!(c.send(&[8u8; 10]), 10);
    let d = tx(&mut c, now).expect("new data");
    let fresh = d.options.timestamps.unwrap().0;
    send!(c, now + Duration::from_millis(30), seg(IRS + 1, Some(ISS + 61), A).with_ts(3, fresh));
    assert_ne!(c.info().rtt, Some(rtt_before), "a fresh echo gives a sample");
}

/// Data segments make room for the SACK blocks they carry (Linux `tcp_current_mss`): with
/// timestamps (12 bytes) and one SACK block (4 + 8 bytes) a peer MSS of 100 leaves 76 bytes of
/// payload, so header and data never exceed what the peer and the MTU accept.
#[test]
fn data_segments_shrink_to_fit_their_sack_blocks() {
    let cfg = TcpConfig { mss: 100, window_scaling: false, ..TcpConfig::default() };
    let mut c = Endpoint::connect(ms(0), cfg, LOCAL, REMOTE, s(ISS));
    let syn = tx(&mut c, ms(0)).expect("SYN");
    assert!(syn.options.sack_permitted);
    let mut synack =
        seg(IRS, Some(ISS + 1), Flags::SYN).with_ts(1, syn.options.timestamps.unwrap().0);
    synack.options.mss = Some(100);
    synack.options.sack_permitted = true;
    rx(&mut c, ms(10), &synack);
    tx_all(&mut c, ms(10));
    // Out-of-order data from the peer: one range is held and will be SACKed.
    send!(c, ms(20), seg(IRS + 11, Some(ISS + 1), A).with_ts(2, 10).with_payload(&[1; 10]));
    let dupack = tx(&mut c, ms(20)).expect("immediate ACK for out-of-order data");
    assert_eq!(dupack.sack().len(), 1);
    assert_eq!(c.send(&[9u8; 200]), 200);
    let first = tx(&mut c, ms(20)).expect("data");
    assert_eq!(first.sack().len(), 1, "the SACK block rides on the data");
    assert_eq!(first.payload.len(), 100 - 12 - 12);
    // The gap fills: no more SACK blocks, full 88-byte segments again.
    send!(c, ms(30), seg(IRS + 1, Some(ISS + 1), A).with_ts(3, 10).with_payload(&[1; 10]));
    let rest = tx_all(&mut c, ms(30));
    assert!(rest.iter().any(|x| x.payload.len() == 88), "{rest:?}");
    assert!(rest.iter().all(|x| x.sack().is_empty() || x.payload.len() <= 76));
}
