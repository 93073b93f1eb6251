//! Property tests: `Interface::receive` never panics, on arbitrary bytes or on mutated valid
//! frames, on either medium, and whatever it queues can be transmitted.

mod iface_util;

use iface_util::*;
use proptest::prelude::*;
use xdptcp_stack::iface::{ChecksumCaps, DeviceCaps, Interface, Received};
use xdptcp_stack::wire::ipv4::IpProtocol;

fn seeds() -> Vec<Vec<u8>> {
    vec![
        arp_request_for(OUR_IP),
        arp_reply_from(PEER_MAC, PEER_IP),
        from_peer(&ipv4(PEER_IP, OUR_IP, IpProtocol::Icmp, &echo_request(1, 2, b"data"))),
        udp_frame((PEER_IP, 1), (OUR_IP, 53), b"hello"),
        udp_frame((PEER_IP, 1), (OUR_IP, 9), b"closed"),
        from_peer(&ipv4(PEER_IP, OUR_IP, IpProtocol::Tcp, &[0u8; 20])),
        from_peer(&ipv4(PEER_IP, OUR_IP, IpProtocol::Unknown(99), b"zz")),
    ]
}

fn run(iface: &mut Interface, now_ms: u64, frame: &[u8]) {
    let before = iface.counters().rx_frames;
    if let Received::Tcp { segment, .. } = iface.receive(t(now_ms), frame) {
        assert!(segment.len() <= frame.len());
    }
    assert_eq!(iface.counters().rx_frames, before + 1);
    let mut buf = vec![0u8; iface.caps().max_frame_len()];
    let mut n = 0;
    while let Some(len) = iface.poll_transmit(t(now_ms), &mut buf) {
        assert!(len <= buf.len());
        n += 1;
        assert!(n < 1000);
    }
}

fn make(caps: ChecksumCaps, ip_medium: bool) -> Interface {
    let dev = if ip_medium { DeviceCaps::ip(1500) } else { DeviceCaps::ethernet(1500) };
    let mut i = Interface::new(config(), dev.with_checksum(caps));
    i.udp_bind_with_slots(53, 4).unwrap();
    i
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..1600), 1..8),
        ip_medium in any::<bool>(),
        offload in any::<bool>(),
    ) {
        let caps = if offload { ChecksumCaps::ALL } else { ChecksumCaps::NONE };
        let mut i = make(caps, ip_medium);
        for (k, f) in frames.iter().enumerate() {
            run(&mut i, k as u64 * 700, f);
        }
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        seed in 0usize..7,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        ip_medium in any::<bool>(),
        offload in any::<bool>(),
    ) {
        let mut f = seeds().swap_remove(seed);
        if ip_medium {
            f.drain(..14);
        }
        for (at, x) in flips {
            let i = at.index(f.len());
            f[i] ^= x;
        }
        if truncate {
            f.truncate(cut.index(f.len() + 1));
        }
        let caps = if offload { ChecksumCaps::ALL } else { ChecksumCaps::NONE };
        let mut i = make(caps, ip_medium);
        run(&mut i, 0, &f);
        run(&mut i, 5_000, &f);
    }
}
