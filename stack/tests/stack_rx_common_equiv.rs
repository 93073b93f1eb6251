#![cfg(feature = "sim")]
//! The direct receive path for common frames (`Stack::set_frame_prediction`, `stack/input.rs`
//! `receive_common`) changes nothing but speed: the same seeded traffic, run with it on and
//! with it off, must put the same frames on the wire at the same instants (the pair's
//! `wire_digest`), deliver the same bytes, and end with the same counters of every layer
//! (interface, TCP, stack, memory).
//!
//! The links lose, duplicate, reorder and corrupt frames (a flipped bit anywhere in the IPv4
//! packet: header, TCP header or payload), so the direct path meets bad checksums, old and
//! out-of-order segments and SACK-carrying ACKs, and must hand each to the general path
//! exactly as that path would have taken it. Per seed, timestamps are on or off (the two
//! header layouts the direct path reads), the device is Ethernet or raw IP, and checksums are
//! verified by the stack or left to the device.
//!
//! The same switch turns off the IPv6 input's connection hint (`tcp6_input`: the previous
//! segment's connection taken without a lookup when its real ends are the segment's); the
//! IPv6 runs compare it the same way.

use xdptcp_stack::iface::{ChecksumCaps, DeviceCaps};
use xdptcp_stack::sim::*;
use xdptcp_stack::time::Duration;

/// What one run produced, in a comparable form.
#[derive(Debug, PartialEq)]
struct Outcome {
    wire_digest: u64,
    bulk: String,
    rpc: String,
    counters: [String; 2],
    /// Frames the interfaces counted as TCP: the direct path was exercised if these are many.
    rx_tcp: u64,
}

fn link(seed: u64) -> LinkConfig {
    let pick = |k: u64, options: &[f64]| options[((seed >> k) % options.len() as u64) as usize];
    LinkConfig {
        loss: pick(0, &[0.0, 0.0, 0.01, 0.03]),
        duplicate: pick(2, &[0.0, 0.01, 0.03]),
        reorder: pick(4, &[0.0, 0.02]),
        corrupt: pick(6, &[0.0, 0.01, 0.02]),
        ..LinkConfig::default()
    }
}

fn run(seed: u64, predict: bool) -> Outcome {
    let mut configs = [side_config(Side::A, seed), side_config(Side::B, seed)];
    for c in &mut configs {
        c.tcp.timestamps = !seed.is_multiple_of(3);
        // Raw IP devices for some seeds (the direct path's other medium), and devices that
        // verify checksums themselves for others (neither path then checks them: a corrupted
        // frame is taken by both alike).
        if seed % 4 == 1 {
            c.caps = DeviceCaps::ip(1500);
        }
        if seed % 6 == 5 {
            c.caps = c.caps.with_checksum(ChecksumCaps::ALL);
        }
    }
    let [a, b] = configs;
    let mut p = Pair::new(a, b, link(seed), seed);
    p.a.set_frame_prediction(predict);
    p.b.set_frame_prediction(predict);
    let bulk = bulk_transfer(&mut p, 400_000, 150_000, seed, Duration::from_secs(600));
    let rpc = request_response(&mut p, 100, 64, 700, Duration::from_secs(600));
    p.run_until(p.now + Duration::from_secs(300));
    let rx_tcp = p.a.iface().counters().rx_tcp + p.b.iface().counters().rx_tcp;
    outcome(&p, format!("{bulk:?}"), format!("{rpc:?}"), rx_tcp)
}

/// What a run leaves to compare: the wire's digest, the transfers' results and every counter
/// of both stacks.
fn outcome(p: &Pair, bulk: String, rpc: String, rx_tcp: u64) -> Outcome {
    let counters = [&p.a, &p.b].map(|s| {
        format!(
            "{:?} {:?} {:?} {:?}",
            s.iface().counters(),
            s.tcp_counters(),
            s.counters(),
            s.memory_counters()
        )
    });
    Outcome { wire_digest: p.wire_digest, bulk, rpc, counters, rx_tcp }
}

#[test]
fn direct_and_general_receive_give_the_same_wire_and_state() {
    let mut frames = 0;
    for seed in 0..24 {
        let on = run(seed, true);
        let off = run(seed, false);
        assert_eq!(on, off, "seed {seed} ({:?}): the direct path changed something", link(seed));
        assert!(on.rx_tcp > 500, "seed {seed}: only {} TCP frames", on.rx_tcp);
        frames += on.rx_tcp;
    }
    assert!(frames > 20_000, "only {frames} TCP frames received: too little traffic to compare");
}

/// [`run`] over IPv6: a bulk transfer both ways to B's IPv6 address over the same impaired
/// links, with the hint on and off.
fn run6(seed: u64, predict: bool) -> Outcome {
    let mut configs = [dual_config(Side::A, seed), dual_config(Side::B, seed)];
    for c in &mut configs {
        c.tcp.timestamps = !seed.is_multiple_of(3);
    }
    let [a, b] = configs;
    let mut p = Pair::new(a, b, link(seed), seed);
    p.a.set_frame_prediction(predict);
    p.b.set_frame_prediction(predict);
    let to = std::net::SocketAddr::new(ADDR6_B.into(), 5001);
    let bulk = bulk_transfer_to(&mut p, to, 300_000, 100_000, seed, Duration::from_secs(600));
    p.run_until(p.now + Duration::from_secs(300));
    let rx_tcp = p.a.tcp_counters().in_segs + p.b.tcp_counters().in_segs;
    outcome(&p, format!("{bulk:?}"), String::new(), rx_tcp)
}

#[test]
fn ipv6_hint_on_and_off_give_the_same_wire_and_state() {
    for seed in 0..12 {
        let on = run6(seed, true);
        let off = run6(seed, false);
        assert_eq!(on, off, "seed {seed} ({:?}): the IPv6 hint changed something", link(seed));
        assert!(on.rx_tcp > 300, "seed {seed}: only {} TCP segments", on.rx_tcp);
    }
}

/// Two IPv6 connections between the same addresses, written to in turn, so that nearly every
/// segment arrives with the other connection as the hint: what each side received on each
/// connection, the wire and the counters, with the hint on and off. A hint taken without its
/// ports or its addresses compared would hand segments to the wrong connection here.
fn interleaved6(seed: u64, predict: bool) -> (u64, Vec<Vec<u8>>, [String; 2]) {
    let mut p = Pair::new(dual_config(Side::A, seed), dual_config(Side::B, seed), link(seed), seed);
    p.a.set_frame_prediction(predict);
    p.b.set_frame_prediction(predict);
    let to = std::net::SocketAddr::new(ADDR6_B.into(), 7000);
    let listener = p.b.tcp_listen(std::net::Ipv6Addr::UNSPECIFIED, 7000, 16).expect("listen");
    let config = *p.a.tcp_config();
    let ours: Vec<_> =
        (0..2).map(|_| p.a.tcp_connect_to(p.now, to, config).expect("connect")).collect();
    p.run_until(p.now + Duration::from_secs(5));
    let theirs: Vec<_> = std::iter::from_fn(|| p.b.tcp_accept(listener)).collect();
    assert_eq!(theirs.len(), 2, "seed {seed}: both connections accepted");
    let mut got = vec![Vec::new(); 4];
    let mut buf = [0u8; 4096];
    for round in 0..200u32 {
        for (i, (&a, &b)) in ours.iter().zip(&theirs).enumerate() {
            let tag = [i as u8; 1].repeat(1 + (round as usize * 7 + i) % 300);
            let _ = p.a.tcp_send(a, &tag);
            let _ = p.b.tcp_send(b, &round.to_be_bytes());
        }
        p.run_until(p.now + Duration::from_millis(3));
        for (i, (&a, &b)) in ours.iter().zip(&theirs).enumerate() {
            while let Ok(n @ 1..) = p.b.tcp_recv(b, &mut buf) {
                got[i].extend_from_slice(&buf[..n]);
            }
            while let Ok(n @ 1..) = p.a.tcp_recv(a, &mut buf) {
                got[2 + i].extend_from_slice(&buf[..n]);
            }
        }
    }
    let counters = [&p.a, &p.b].map(|s| format!("{:?} {:?}", s.tcp_counters(), s.counters()));
    (p.wire_digest, got, counters)
}

#[test]
fn ipv6_hint_with_two_connections_delivers_each_segment_to_its_own() {
    for seed in 0..6 {
        let on = interleaved6(seed, true);
        let off = interleaved6(seed, false);
        assert!(on.1.iter().all(|g| g.len() > 500), "seed {seed}: too little data moved");
        assert_eq!(on, off, "seed {seed}: the IPv6 hint changed something");
    }
}
