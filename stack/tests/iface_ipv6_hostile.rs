//! A hostile link against an interface with IPv6 on (`iface_ipv6_common`): random bytes, run
//! through the same body as the fuzz target `iface_ipv6`.

use proptest::prelude::*;

mod iface_ipv6_common;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn hostile_frames_never_break_the_interface(
        data in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        iface_ipv6_common::run(&data);
    }
}

/// Structured seeds that reach detection, solicitations, echo and UDP: checked, the seeds
/// must have driven each of those paths at least once.
#[test]
fn seeded_runs_hold_and_reach_every_path() {
    const REACHED: [&str; 6] = [
        "icmpv6_echo_replied",
        "ndp_adverts_sent",
        "ndp_solicits_sent",
        "udp_delivered",
        "rx_bad_icmpv6",
        "ndp_dad_succeeded",
    ];
    let mut total = [0u64; REACHED.len()];
    for seed in 0u8..=255 {
        let c = iface_ipv6_common::run(&scenario(seed));
        for (t, name) in total.iter_mut().zip(REACHED) {
            *t += c.by_name(name).unwrap_or(0);
        }
    }
    for (t, name) in total.iter().zip(REACHED) {
        assert!(*t > 0, "no seeded run reached {name}");
    }
}

/// One step of `iface_ipv6_common::run`: an op byte and its body.
fn step(data: &mut Vec<u8>, op: u8, body: &[u8]) {
    data.extend([op, body.len() as u8]);
    data.extend_from_slice(body);
}

/// Detection, then an echo request, a solicitation, a UDP datagram, a send that needs
/// resolution and a forwarded (hop limit 64) solicitation, with `seed` varying the addresses,
/// the detection count and the payloads; then the seed's own bytes as raw steps.
fn scenario(seed: u8) -> Vec<u8> {
    let mut d = vec![seed % 3];
    let pick = (seed % 3) * 4; // one of our three addresses
    step(&mut d, 0, &[0; 200]); // 4 s: detection is over
                                // Op 3: ICMPv6 from a neighbour with hop limit 255; op 11: UDP; op 147: ICMPv6, hop 64.
    step(&mut d, 3, &[pick, 0, 128, 0, 0, 0, 0, seed, 0, 1, b'p', b'i', b'n', b'g']);
    let group = pick + 2; // the solicited-node group of that address
    let target = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let mut ns = vec![group, 0, 135, 0, 0, 0, 0, 0, 0, 0];
    ns.extend(target);
    ns.extend([1, 1, 2, 0, 0, 0, 0, 2]);
    step(&mut d, 3, &ns);
    step(&mut d, 11, &[pick, 0, b'u', b'd', b'p', seed]);
    step(&mut d, 1, &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, seed | 3]);
    step(&mut d, 147, &ns);
    for i in 0..16u8 {
        step(&mut d, seed.wrapping_add(i.wrapping_mul(37)), &[seed ^ i; 24]);
    }
    d
}
