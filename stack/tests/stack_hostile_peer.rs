//! The hostile-peer model of `xdptcp_stack::sim::hostile` (the same body as the
//! `stack_peer` fuzz target): a scripted run that reaches every invariant, frames the stack
//! would never send caught by the checks, random inputs reaching deep states, and a property
//! test over arbitrary inputs.

#![cfg(feature = "sim")]

use proptest::prelude::*;
use xdptcp_stack::rng::SplitMix64;
use xdptcp_stack::sim::hostile::{self, HostilePeer, Op, SegmentSpec, Setup, LOCAL, PEER};
use xdptcp_stack::tcp::listen::CookieMode;
use xdptcp_stack::tcp::SeqNumber;
use xdptcp_stack::wire::ipv4::{self, IpProtocol, Ipv4Repr};
use xdptcp_stack::wire::tcp::{Packet, TcpFlags, TcpRepr};

fn setup() -> Setup {
    Setup {
        seed: 7,
        cookies: CookieMode::WhenFull,
        buffer: Some(16384),
        small_memory: false,
        timestamps: true,
        sack: true,
        window_scaling: true,
        backlog: 4,
        overflow_reset: false,
        ack_at_end: true,
    }
}

/// A well-behaved segment from the peer on passive tuple 0 (port 80, peer port 40000):
/// sequence at the stack's RCV.NXT, ACK of everything the stack sent, timestamps, a full
/// window. `flags` is the model's class (0 SYN, 1 ACK, 3 FIN-ACK), `len` its length selector.
fn seg(flags: u8, len: u16) -> Op {
    Op::Segment(SegmentSpec {
        tuple: 0,
        flags,
        raw_flags: 0,
        seq_sel: 0,
        seq_arg: 0,
        ack_sel: 0,
        ack_arg: 0,
        window: 2,
        opts: 0x01 | 0x10 | if flags == 0 { 0x04 | 0x08 } else { 0 },
        opt_arg: 1 << 16,
        len,
    })
}

/// Handshake, data both ways, both FINs.
fn script() -> Vec<Op> {
    vec![
        Op::Listen { port: 0 },
        seg(0, 0),
        seg(1, 2 | (100 << 2)),
        Op::Accept,
        Op::Recv { conn: 0, len: 60, zero_copy: false },
        Op::Recv { conn: 0, len: 1000, zero_copy: true },
        Op::Send { conn: 0, len: 3000 },
        seg(1, 0),
        Op::Wait { class: 0, amount: 300 },
        seg(1, 0),
        seg(3, 0),
        Op::Recv { conn: 0, len: 10, zero_copy: false },
        Op::Close { conn: 0 },
        seg(1, 0),
    ]
}

#[test]
fn scripted_run_reaches_every_invariant() {
    let mut p = HostilePeer::new(setup());
    for op in script() {
        p.step(&op).unwrap_or_else(|v| panic!("{op:?}: {v}"));
    }
    let r = p.report();
    assert_eq!(r.established, 1, "{r:?}");
    assert_eq!(r.delivered, 100, "{r:?}");
    assert_eq!(r.acked, 3000, "{r:?}");
    assert_eq!(r.eofs, 1, "{r:?}");
    // The peer closed first: CLOSE-WAIT, then LAST-ACK, freed by the peer's last ACK.
    assert_eq!(p.stack().connection_count(), 0);
    p.finish().expect("everything drains");
    assert_eq!(p.stack().connection_count(), 0);
}

/// An IPv4 frame from the stack's address to the peer carrying `r`.
fn frame(r: &TcpRepr<'_>) -> Vec<u8> {
    let ip = Ipv4Repr {
        src: LOCAL,
        dst: PEER,
        protocol: IpProtocol::Tcp,
        payload_len: r.buffer_len(),
        ttl: 64,
        dscp_ecn: 0,
        dont_frag: true,
        ident: 0,
    };
    let mut buf = vec![0u8; ip.buffer_len()];
    ip.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]), true);
    r.emit_with_payload(&mut Packet::new_unchecked(&mut buf[20..]), LOCAL, PEER, true);
    buf
}

#[test]
fn checks_fire_on_frames_the_stack_never_sends() {
    let mut p = HostilePeer::new(setup());
    // Handshake and 3000 bytes from the application, all acknowledged; 100 bytes received.
    for op in &script()[..9] {
        p.step(op).unwrap();
    }
    let isn = p.peer_isn(0, 0);
    let iss = p.stack_iss(0, 0).expect("SYN-ACK seen");
    let seg = |seq: u32, ack: u32, payload: &'static [u8]| {
        let mut r = TcpRepr::new(80, 40000, SeqNumber(seq));
        r.ack = Some(SeqNumber(ack));
        r.flags = TcpFlags::ACK;
        r.window = 1000;
        r.payload = payload;
        r
    };
    // A plausible frame passes: a pure ACK of what the peer sent.
    assert_eq!(p.check_frame(&frame(&seg(iss + 3001, isn + 101, b""))), Ok(()));
    // A bad IPv4 header checksum.
    let mut f = frame(&seg(iss + 3001, isn + 101, b""));
    f[10] ^= 1;
    assert!(p.check_frame(&f).is_err());
    // A bad TCP checksum.
    let mut f = frame(&seg(iss + 3001, isn + 101, b""));
    f[36] ^= 1;
    assert!(p.check_frame(&f).is_err());
    // Acknowledging bytes the peer never sent.
    let e = p.check_frame(&frame(&seg(iss + 3001, isn + 102, b""))).unwrap_err();
    assert!(e.0.contains("acknowledges"), "{e}");
    // Data the peer acknowledged, offered again.
    let e = p.check_frame(&frame(&seg(iss + 1, isn + 101, b"x"))).unwrap_err();
    assert!(e.0.contains("below SND.UNA"), "{e}");
    // Data the application never queued.
    let e = p.check_frame(&frame(&seg(iss + 3001, isn + 101, b"x"))).unwrap_err();
    assert!(e.0.contains("queued"), "{e}");
    // A segment on a 4-tuple the peer never used.
    let mut r = seg(1, 1, b"");
    r.src_port = 81;
    assert!(p.check_frame(&frame(&r)).is_err());
}

#[test]
fn acknowledging_a_fin_the_peer_never_sent_is_caught() {
    let mut p = HostilePeer::new(setup());
    for op in &script()[..9] {
        p.step(op).unwrap();
    }
    let isn = p.peer_isn(0, 0);
    let iss = p.stack_iss(0, 0).unwrap();
    let mut r = TcpRepr::new(80, 40000, SeqNumber(iss + 3001));
    r.ack = Some(SeqNumber(isn + 102));
    r.flags = TcpFlags::ACK;
    assert!(p.check_frame(&frame(&r)).is_err(), "FIN acknowledged before the peer sent one");
}

/// Inputs the fuzz target once failed on (each a model bug then, fixed in the model).
#[test]
fn fuzz_found_inputs() {
    // A segment starting 30 bytes before the ISN whose tail lands at offsets 0..5: its
    // payload must be the stream's bytes modulo 2^32.
    let wrap: &[u8] = &[
        0, 42, 11, 128, 34, 244, 141, 160, 117, 251, 114, 34, 244, 202, 202, 170, 95, 68, 255, 68,
        48, 170, 170, 170, 170, 170, 48, 169, 10, 202, 202, 202, 202, 202, 2, 2, 0, 210, 2, 20, 89,
        76, 76, 202, 202, 202, 202, 202, 200, 202, 141, 160, 117, 251, 114, 255,
    ];
    let r = hostile::run(wrap).unwrap_or_else(|v| panic!("{v}\n{}", tail(wrap)));
    assert_eq!(r.delivered, 5, "{r:?}");

    // After an active open, a FIN|ACK whose ten bytes end exactly at the peer's ISN+1: the
    // stack trims the old bytes and takes the FIN at offset 0, as Linux does.
    let fin_at_zero: &[u8] = &[
        189, 144, 233, 242, 194, 113, 4, 189, 45, 201, 45, 251, 189, 45, 45, 45, 22, 45, 0, 0, 0,
        85, 85, 85, 85, 85, 85, 2, 79, 0, 168, 85, 0, 251, 41, 147, 150, 150, 150, 47, 45, 13, 162,
        0, 134, 41, 119, 79, 162, 47, 134, 135, 31, 147, 41, 0, 0, 134,
    ];
    hostile::run(fin_at_zero).unwrap_or_else(|v| panic!("{v}\n{}", tail(fin_at_zero)));
}

/// Inputs biased towards progress: mostly well-formed segments on few tuples.
fn random_input(rng: &mut SplitMix64) -> Vec<u8> {
    let mut v = vec![rng.next_u64() as u8, rng.next_u64() as u8, rng.next_u64() as u8, 0];
    v.extend_from_slice(&[0, 0]); // Listen on port 80.
    for _ in 0..rng.below(120) {
        let kind = match rng.below(10) {
            0..=4 => 10,
            5 => 3,
            6 => 4,
            7 => 5,
            8 => 14,
            _ => rng.below(15) as u8,
        };
        v.push(kind);
        // Each operation's exact size, so that the next one starts where it should.
        let size = match kind {
            3 => 0,
            0..=2 | 6..=8 => 1,
            9 => 2,
            4 | 14 => 3,
            5 => 4,
            _ => 22,
        };
        for _ in 0..size {
            v.push(rng.next_u64() as u8);
        }
        if (10..=13).contains(&kind) {
            // Tuple 0 or 1, flags mostly ACK, seq and ack mostly exact, no corruption.
            let n = v.len();
            v[n - 22] %= 2;
            v[n - 21] = [0, 1, 1, 2, 3, 1, 4, 7][rng.below(8) as usize];
            v[n - 19] &= 0x01;
            v[n - 14] &= 0x01;
            v[n - 7] &= 0x1f;
        }
    }
    v
}

#[test]
fn random_inputs_reach_deep_states() {
    let mut rng = SplitMix64::new(17);
    let mut total = hostile::Report::default();
    for _ in 0..300 {
        let input = random_input(&mut rng);
        let r = hostile::run(&input).unwrap_or_else(|v| panic!("{v}\n{}", tail(&input)));
        total.established += r.established;
        total.delivered += r.delivered;
        total.acked += r.acked;
        total.eofs += r.eofs;
        total.rsts_out += r.rsts_out;
    }
    eprintln!("{total:?}");
    assert!(total.established >= 5, "{total:?}");
    assert!(total.delivered > 0, "{total:?}");
    assert!(total.acked > 0, "{total:?}");
    assert!(total.rsts_out > 0, "{total:?}");
}

/// The last lines of the trace of a failing input, to read the failure.
fn tail(input: &[u8]) -> String {
    let (_, trace) = hostile::run_traced(input);
    trace[trace.len().saturating_sub(80)..].join("\n") + &format!("\ninput: {input:?}")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary inputs never break an invariant (the fuzz target's body).
    #[test]
    fn hostile_peer_never_breaks_an_invariant(input in proptest::collection::vec(any::<u8>(), 0..1200)) {
        if let Err(v) = hostile::run(&input) {
            prop_assert!(false, "{}\n{}", v, tail(&input));
        }
    }
}
