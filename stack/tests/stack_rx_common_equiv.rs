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
    let counters = [&p.a, &p.b].map(|s| {
        format!(
            "{:?} {:?} {:?} {:?}",
            s.iface().counters(),
            s.tcp_counters(),
            s.counters(),
            s.memory_counters()
        )
    });
    let rx_tcp = p.a.iface().counters().rx_tcp + p.b.iface().counters().rx_tcp;
    Outcome {
        wire_digest: p.wire_digest,
        bulk: format!("{bulk:?}"),
        rpc: format!("{rpc:?}"),
        counters,
        rx_tcp,
    }
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
