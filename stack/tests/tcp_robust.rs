//! Robustness: arbitrary segment sequences (as a confused or hostile peer might send) never make
//! the engine panic, and whatever it delivers is a prefix of the peer's byte stream, byte-exact,
//! however the segments overlap, repeat, reorder or overrun the window.

mod common;

use common::*;
use proptest::prelude::*;
use xdptcp_stack::tcp::{Flags, SackBlocks, Segment, SegmentOptions, SeqNumber, State, TcpConfig};
use xdptcp_stack::time::Duration;

/// The peer's stream: the byte at sequence number `seq`.
fn stream_byte(seq: u32) -> u8 {
    (seq.wrapping_mul(2_654_435_761) >> 24) as u8
}

#[derive(Clone, Debug)]
enum Op {
    /// A segment: seq offset from the last ACK we sent, ack offset from our last sequence
    /// number, flag bits, window, payload length, timestamp shift, a SACK block.
    Seg {
        dseq: i32,
        dack: i32,
        flags: u8,
        window: u16,
        len: usize,
        ts: i32,
        sack: bool,
    },
    Send(usize),
    Read(usize),
    Tick(u64),
    Close,
    ShutdownWrite,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (
            prop_oneof![3 => Just(0i32), 3 => -150i32..300, 1 => -3000i32..3000],
            prop_oneof![3 => Just(0i32), 3 => 0i32..300, 1 => -3000i32..3000],
            prop_oneof![3 => Just(0x10u8), 1 => any::<u8>()],
            prop_oneof![3 => Just(1000u16), 1 => any::<u16>()],
            0usize..400,
            -5i32..5,
            any::<bool>(),
        )
            .prop_map(|(dseq, dack, flags, window, len, ts, sack)| {
                // RST and SYN kill or stall the connection; keep them rarer.
                let flags = if flags & 0x06 != 0 && flags & 0x80 == 0 { flags & !0x06 } else { flags };
                Op::Seg { dseq, dack, flags, window, len, ts, sack }
            }),
        1 => (0usize..3000).prop_map(Op::Send),
        1 => (0usize..3000).prop_map(Op::Read),
        1 => (0u64..3000).prop_map(Op::Tick),
        1 => prop_oneof![1 => Just(Op::Close), 3 => Just(Op::ShutdownWrite)],
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn hostile_peer_never_panics_and_stream_stays_exact(
        options in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let cfg = TcpConfig {
            timestamps: options,
            sack: options,
            window_scaling: options,
            challenge_ack_limit: 10,
            ..plain_config()
        };
        let mut c = xdptcp_stack::tcp::Endpoint::connect(ms(0), cfg, LOCAL, REMOTE, s(ISS));
        tx_all(&mut c, ms(0));
        let mut sa = seg(IRS, Some(ISS + 1), Flags::SYN).with_ts(100, 0);
        sa.options.mss = Some(100);
        sa.options.window_scale = Some(3);
        sa.options.sack_permitted = true;
        rx(&mut c, ms(5), &sa);
        let mut now = ms(5);
        let mut last_ack = s(IRS + 1);
        let mut last_seq = s(ISS + 1);
        let mut ts = 100u32;
        let mut delivered: Vec<u8> = Vec::new();
        let mut backing = vec![0u8; 4000];
        for op in ops {
            match op {
                Op::Seg { dseq, dack, flags, window, len, ts: dts, sack } => {
                    let seq = SeqNumber(last_ack.0.wrapping_add(dseq as u32));
                    let ack = SeqNumber(last_seq.0.wrapping_add(dack as u32));
                    for (i, b) in backing[..len].iter_mut().enumerate() {
                        *b = stream_byte(seq.0.wrapping_add(i as u32));
                    }
                    ts = ts.wrapping_add(dts as u32);
                    let mut blocks = SackBlocks::EMPTY;
                    if sack {
                        blocks.push(ack, ack + 100u32);
                    }
                    let flags = Flags::from_bits(flags);
                    let segment = Segment {
                        seq,
                        ack: flags.ack().then_some(ack),
                        flags,
                        window,
                        options: SegmentOptions {
                            timestamps: Some((ts, 0)),
                            sack_blocks: blocks,
                            ..Default::default()
                        },
                        payload: &backing[..len],
                    };
                    c.on_segment(now, &segment);
                }
                Op::Send(n) => {
                    let data = vec![0x5a; n];
                    c.send(&data);
                }
                Op::Read(n) => {
                    let mut buf = vec![0u8; n];
                    let got = c.recv(&mut buf);
                    delivered.extend_from_slice(&buf[..got]);
                }
                Op::Tick(d) => {
                    now += Duration::from_millis(d);
                    c.on_timeout(now);
                }
                Op::Close => c.close(),
                Op::ShutdownWrite => c.shutdown_write(),
            }
            for x in tx_all(&mut c, now) {
                prop_assert!(x.payload.len() <= 100, "segment larger than the MSS");
                if let Some(a) = x.ack {
                    if !x.flags.contains(Flags::RST) {
                        last_ack = a;
                    }
                }
                last_seq = x.seq;
            }
            while c.poll_event().is_some() {}
            if let Some(t) = c.poll_timeout() {
                prop_assert!(t >= now || c.state() != State::Closed);
            }
        }
        let (a, b) = c.recv_slices();
        delivered.extend_from_slice(a);
        delivered.extend_from_slice(b);
        let expected: Vec<u8> =
            (0..delivered.len() as u32).map(|i| stream_byte(IRS + 1 + i)).collect();
        if std::env::var_os("TCP_TRACE").is_some() {
            eprintln!("delivered {} state {:?}", delivered.len(), c.state());
        }
        prop_assert!(delivered == expected, "delivered bytes differ from the peer's stream");
    }
}
