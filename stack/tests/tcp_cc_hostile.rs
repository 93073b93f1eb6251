//! A sender facing a confused or hostile receiver: arbitrary cumulative ACKs, SACK and DSACK
//! blocks, ECN echoes and silences never make the loss-recovery bookkeeping panic or go
//! inconsistent, and every byte the sender (re)transmits is the byte the application wrote at
//! that sequence number.

mod common;

use common::*;
use proptest::prelude::*;
use xdptcp_stack::tcp::{BufferSizes, CongestionAlgorithm, Endpoint, Flags, TcpConfig};
use xdptcp_stack::time::Duration;

fn app_byte(offset: u32) -> u8 {
    (offset.wrapping_mul(0x9E37_79B1) >> 24) as u8
}

#[derive(Clone, Debug)]
enum Op {
    /// An ACK: cumulative offset below our highest byte, SACK blocks as (start, length)
    /// offsets (possibly below the ACK: DSACK), ECE.
    Ack {
        back: u32,
        blocks: Vec<(u32, u32)>,
        ece: bool,
        window: u16,
    },
    Write(usize),
    Tick(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (
            0u32..3000,
            proptest::collection::vec((0u32..4000, 0u32..800), 0..4),
            any::<bool>(),
            prop_oneof![4 => Just(4000u16), 1 => 0u16..5000],
        ).prop_map(|(back, blocks, ece, window)| Op::Ack { back, blocks, ece, window }),
        2 => (1usize..3000).prop_map(Op::Write),
        2 => (1u64..400).prop_map(Op::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn recovery_bookkeeping_survives_any_ack_stream(
        cubic in any::<bool>(),
        rack in any::<bool>(),
        ecn in any::<bool>(),
        pacing in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..150),
    ) {
        let cfg = TcpConfig {
            sack: true,
            ecn,
            wmem: BufferSizes::fixed(8000),
            congestion: if cubic { CongestionAlgorithm::Cubic } else { CongestionAlgorithm::NewReno },
            ..plain_config().with_rack(rack).with_pacing(pacing)
        };
        let mut c = Endpoint::connect(ms(0), cfg, LOCAL, REMOTE, s(ISS));
        tx_all(&mut c, ms(0));
        let mut sa = seg(IRS, Some(ISS + 1), Flags::SYN).with_window(4000);
        sa.options.mss = Some(100);
        sa.options.sack_permitted = true;
        if ecn {
            sa.flags |= Flags::ECE;
        }
        rx(&mut c, ms(10), &sa);
        tx_all(&mut c, ms(10));
        let mut now = ms(10);
        let mut written = 0u32;
        let mut highest = 0u32; // one past the highest data offset sent
        for op in ops {
            let ticked = matches!(op, Op::Tick(_));
            match op {
                Op::Ack { back, blocks, ece, window } => {
                    let ackd = highest.saturating_sub(back);
                    let mut a = seg(IRS + 1, Some(ISS + 1 + ackd), Flags::ACK).with_window(window);
                    for (start, len) in blocks {
                        a.options.sack_blocks.push(s(ISS + 1 + start), s(ISS + 1 + start + len));
                    }
                    if ece {
                        a.flags |= Flags::ECE;
                    }
                    now += Duration::from_micros(300);
                    rx(&mut c, now, &a);
                }
                Op::Write(n) => {
                    let data: Vec<u8> = (0..n as u32).map(|i| app_byte(written + i)).collect();
                    written += c.send(&data) as u32;
                }
                Op::Tick(d) => {
                    now += Duration::from_millis(d);
                    c.on_timeout(now);
                }
            }
            for x in tx_all(&mut c, now) {
                prop_assert!(x.payload.len() <= 100);
                let off = x.seq.0.wrapping_sub(ISS + 1);
                for (i, &b) in x.payload.iter().enumerate() {
                    prop_assert_eq!(b, app_byte(off + i as u32), "byte at offset {}", off + i as u32);
                }
                if !x.payload.is_empty() && off < 1 << 30 {
                    highest = highest.max(off + x.payload.len() as u32);
                }
            }
            let info = c.info();
            prop_assert!(info.sacked + info.lost <= info.unacked, "{:?}", info);
            prop_assert!(info.pipe <= info.unacked, "{:?}", info);
            // A deadline may pass between calls, but once the timers have run and the output
            // is drained, the next one lies in the future: no busy loop.
            if ticked {
                if let Some(t) = c.poll_timeout() {
                    prop_assert!(t > now, "deadline {:?} not after {:?}", t, now);
                }
            }
        }
    }
}
