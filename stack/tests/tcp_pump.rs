//! Two connections talking to each other over a deterministic impaired link in virtual time:
//! every byte either side queued arrives exactly once, in order, and both close cleanly.

mod common;

use common::*;
use proptest::prelude::*;
use xdptcp_stack::tcp::{BufferSizes, State, TcpConfig};

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + i / 251) as u8) ^ seed).collect()
}

fn small_config() -> TcpConfig {
    TcpConfig {
        mss: 536,
        wmem: BufferSizes::fixed(8192),
        rmem: BufferSizes::fixed(4096),
        ..TcpConfig::default()
    }
}

fn check(r: &TransferResult, a_data: &[u8], b_data: &[u8]) {
    assert!(r.b_got == a_data, "a->b: got {} of {} bytes", r.b_got.len(), a_data.len());
    assert!(r.a_got == b_data, "b->a: got {} of {} bytes", r.a_got.len(), b_data.len());
    assert_eq!(r.pump.a.state(), State::Closed);
    assert_eq!(r.pump.b.state(), State::Closed);
}

#[test]
fn clean_link_bulk_both_ways() {
    let (x, y) = (bytes(300_000, 1), bytes(120_000, 2));
    let p = pair(TcpConfig::default(), TcpConfig::default(), Impairment::default());
    let r = transfer(p, &x, &y, 100_000);
    check(&r, &x, &y);
    assert_eq!(r.pump.a.info().bytes_acked, 300_000);
    assert_eq!(r.pump.a.info().retransmits, 0);
    assert_eq!(r.pump.dropped, 0);
}

#[test]
fn every_seventh_segment_dropped() {
    let (x, y) = (bytes(100_000, 3), bytes(50_000, 4));
    let imp = Impairment { drop_every: 7, ..Default::default() };
    let r = transfer(pair(small_config(), small_config(), imp), &x, &y, 200_000);
    check(&r, &x, &y);
    assert!(r.pump.dropped > 10);
    assert!(r.pump.a.info().retransmits > 0);
}

#[test]
fn reordering_and_loss_without_options() {
    let cfg = TcpConfig { timestamps: false, sack: false, window_scaling: false, ..small_config() };
    let (x, y) = (bytes(60_000, 5), bytes(60_000, 6));
    let imp = Impairment { seed: 42, drop_pct: 10, jitter_ms: 20, ..Default::default() };
    let r = transfer(pair(cfg, cfg, imp), &x, &y, 200_000);
    check(&r, &x, &y);
}

#[allow(clippy::too_many_arguments)]
fn run_case(
    a_len: usize,
    b_len: usize,
    seed: u64,
    drop_pct: u64,
    jitter_ms: u64,
    options: bool,
    recv_buffer: usize,
    mss: u16,
    read_limit: usize,
) -> TransferResult {
    run_case_iss(
        a_len,
        b_len,
        seed,
        drop_pct,
        jitter_ms,
        options,
        recv_buffer,
        mss,
        read_limit,
        ISS,
        IRS,
    )
}

#[allow(clippy::too_many_arguments)]
fn run_case_iss(
    a_len: usize,
    b_len: usize,
    seed: u64,
    drop_pct: u64,
    jitter_ms: u64,
    options: bool,
    recv_buffer: usize,
    mss: u16,
    read_limit: usize,
    iss_a: u32,
    iss_b: u32,
) -> TransferResult {
    let cfg = TcpConfig {
        mss,
        rmem: BufferSizes::fixed(recv_buffer),
        wmem: BufferSizes::fixed(8192),
        timestamps: options,
        sack: options,
        window_scaling: options,
        ..TcpConfig::default()
    };
    let (x, y) = (bytes(a_len, 7), bytes(b_len, 8));
    let imp = Impairment { seed, drop_pct, jitter_ms, ..Default::default() };
    transfer_with_reader(pair_with_iss(cfg, cfg, imp, iss_a, iss_b), &x, &y, 400_000, read_limit)
}

#[test]
fn regression_loss_small_window() {
    let r = run_case(8839, 9175, 3328710269033549736, 5, 2, false, 7953, 884, usize::MAX);
    check(&r, &bytes(8839, 7), &bytes(9175, 8));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_bulk_with_random_drops_arrives_exactly(
        a_len in 0usize..40_000,
        b_len in 0usize..40_000,
        seed in any::<u64>(),
        drop_pct in 0u64..25,
        jitter_ms in 0u64..30,
        options in any::<bool>(),
        recv_buffer in 1000usize..20_000,
        mss in 100u16..1460,
        slow_reader in any::<bool>(),
        iss_a in any::<u32>(),
        iss_b in any::<u32>(),
    ) {
        let read_limit = if slow_reader { 700 } else { usize::MAX };
        let r = run_case_iss(
            a_len, b_len, seed, drop_pct, jitter_ms, options, recv_buffer, mss, read_limit, iss_a, iss_b,
        );
        let (x, y) = (bytes(a_len, 7), bytes(b_len, 8));
        prop_assert!(r.b_got == x, "a->b {} of {}", r.b_got.len(), x.len());
        prop_assert!(r.a_got == y, "b->a {} of {}", r.a_got.len(), y.len());
        prop_assert_eq!(r.pump.a.state(), State::Closed);
        prop_assert_eq!(r.pump.b.state(), State::Closed);
    }
}

#[test]
fn regression_tiny_reply_with_jitter() {
    let cfg = TcpConfig {
        mss: 594,
        rmem: BufferSizes::fixed(6554),
        wmem: BufferSizes::fixed(8192),
        ..TcpConfig::default()
    };
    let y = bytes(1, 8);
    let imp = Impairment { seed: 0, drop_pct: 1, jitter_ms: 9, ..Default::default() };
    let r = transfer(pair(cfg, cfg, imp), &[], &y, 400_000);
    check(&r, &[], &y);
}

#[test]
fn regression_loss_jitter_small_buffer() {
    let r = run_case(7301, 1914, 9613595315445284416, 6, 12, false, 2516, 957, usize::MAX);
    if std::env::var_os("TCP_TRACE").is_some() {
        eprintln!("{:?} {:?} {:?}", r.pump.now, r.pump.a.info(), r.pump.a.poll_timeout());
        eprintln!("{:?} {:?}", r.pump.b.info(), r.pump.b.poll_timeout());
    }
    check(&r, &bytes(7301, 7), &bytes(1914, 8));
}

#[test]
fn regression_slow_reader_corruption() {
    let r = run_case(11441, 22469, 16642339081230714942, 14, 26, false, 3121, 987, 700);
    let y = bytes(22469, 8);
    if let Some(i) = r.a_got.iter().zip(&y).position(|(a, b)| a != b) {
        panic!("first difference at byte {i} (seq {})", IRS + 1 + i as u32);
    }
    check(&r, &bytes(11441, 7), &y);
}

#[test]
fn sequence_numbers_wrap_during_transfer() {
    let (x, y) = (bytes(50_000, 7), bytes(50_000, 8));
    let r = run_case_iss(
        50_000,
        50_000,
        7,
        5,
        10,
        true,
        8000,
        1000,
        usize::MAX,
        u32::MAX - 20_000,
        u32::MAX - 100,
    );
    check(&r, &x, &y);
}

#[test]
fn scaled_windows_slow_reader_with_loss() {
    // 200 KB receive buffers need window scale 2; the slow reader fills them to zero windows.
    let cfg = TcpConfig {
        rmem: BufferSizes::fixed(200_000),
        wmem: BufferSizes::fixed(64 * 1024),
        ..TcpConfig::default()
    };
    let (x, y) = (bytes(600_000, 11), bytes(300_000, 12));
    let imp = Impairment { seed: 99, drop_pct: 3, jitter_ms: 8, ..Default::default() };
    let p = pair_with_iss(cfg, cfg, imp, u32::MAX - 1000, 77);
    let r = transfer_with_reader(p, &x, &y, 2_000_000, 3000);
    check(&r, &x, &y);
    assert_eq!(r.pump.a.info().window_scale, Some((2, 2)));
    assert!(r.pump.dropped > 0);
}

#[test]
fn simultaneous_open_and_close_over_the_link() {
    use xdptcp_stack::tcp::Endpoint;
    use xdptcp_stack::time::Instant;
    let cfg = small_config();
    let a = Endpoint::connect(Instant::ZERO, cfg, LOCAL, REMOTE, s(ISS));
    let b = Endpoint::connect(Instant::ZERO, cfg, REMOTE, LOCAL, s(IRS));
    let mut p = Pump::new(a, b, Impairment::default());
    // Both SYNs cross; both go through SYN-RECEIVED.
    p.step();
    assert_eq!((p.a.state(), p.b.state()), (State::SynReceived, State::SynReceived));
    while p.a.state() != State::Established || p.b.state() != State::Established {
        assert!(p.step());
    }
    // Data both ways, then both close at the same instant: FINs cross (CLOSING on both).
    p.a.send(b"ping");
    p.b.send(b"pong");
    p.flush();
    while p.a.recv_queue_len() < 4 || p.b.recv_queue_len() < 4 {
        assert!(p.step());
    }
    assert_eq!(read_all(&mut p.a), b"pong");
    assert_eq!(read_all(&mut p.b), b"ping");
    while p.a.send_queue_len() > 0 || p.b.send_queue_len() > 0 {
        assert!(p.step());
    }
    p.a.close();
    p.b.close();
    p.flush();
    p.step();
    assert_eq!((p.a.state(), p.b.state()), (State::Closing, State::Closing));
    while p.step() {}
    assert_eq!((p.a.state(), p.b.state()), (State::Closed, State::Closed));
}
