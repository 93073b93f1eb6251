//! Property tests of the whole stack against hostile input: arbitrary frames and arbitrary
//! (checksum-valid) TCP segments never make it panic, every frame it sends parses with a
//! valid checksum, and a RST is never answered with a RST.

use proptest::prelude::*;
use std::net::Ipv4Addr;
use xdptcp_stack::iface::{DeviceCaps, InterfaceConfig};
use xdptcp_stack::stack::{Stack, StackConfig, StackKeys};
use xdptcp_stack::tcp::SeqNumber;
use xdptcp_stack::time::{Duration, Instant};
use xdptcp_stack::wire::ethernet::EthernetAddress;
use xdptcp_stack::wire::ipv4;
use xdptcp_stack::wire::tcp::{Packet, TcpFlags, TcpRepr};

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const T0: Instant = Instant::from_millis(1000);

fn stack(ethernet: bool) -> Stack {
    let iface = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1]), LOCAL, 24);
    let caps = if ethernet { DeviceCaps::ethernet(1500) } else { DeviceCaps::ip(1500) };
    let mut cfg = StackConfig::new(iface, caps, StackKeys::from_seed(9));
    cfg.max_connections = 64;
    let mut s = Stack::new(cfg, T0);
    s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4).unwrap();
    s.tcp_connect(T0, PEER, 443).unwrap();
    s
}

/// Drains output; every TCP frame must carry a valid checksum. Returns the TCP flags sent.
fn drain(s: &mut Stack, now: Instant) -> Vec<TcpFlags> {
    let mut flags = Vec::new();
    let mut buf = [0u8; 1514];
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        let Ok(ip) = ipv4::Packet::new_checked(&buf[..n]) else { continue };
        if ip.protocol() != ipv4::IpProtocol::Tcp {
            continue;
        }
        let tcp = Packet::new_checked(ip.payload()).expect("a whole TCP header");
        let r = TcpRepr::parse(&tcp, ip.src_addr(), ip.dst_addr(), true).expect("valid checksum");
        flags.push(r.flags);
    }
    flags
}

fn segment() -> impl Strategy<Value = (u16, u16, u32, Option<u32>, u8, u16, Vec<u8>)> {
    (
        prop_oneof![Just(40000u16), Just(40001), 1u16..],
        prop_oneof![Just(80u16), Just(443), Just(9), 1u16..],
        any::<u32>(),
        proptest::option::of(any::<u32>()),
        any::<u8>(),
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_frames_never_panic(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..20), ethernet in any::<bool>()) {
        let mut s = stack(ethernet);
        let mut now = T0;
        for f in &frames {
            s.receive(now, f);
            now += Duration::from_millis(7);
            s.on_timeout(now);
            let mut buf = [0u8; 1514];
            while s.poll_transmit(now, &mut buf).is_some() {}
        }
    }

    #[test]
    fn arbitrary_segments_never_panic_and_rsts_are_not_answered(segs in proptest::collection::vec(segment(), 1..40)) {
        let mut s = stack(false);
        let mut now = T0;
        let _ = drain(&mut s, now);
        for (sport, dport, seq, ack, bits, window, payload) in &segs {
            let mut r = TcpRepr::new(*sport, *dport, SeqNumber(*seq));
            r.ack = ack.map(SeqNumber);
            r.flags = TcpFlags::from_bits(*bits);
            r.window = *window;
            r.payload = payload;
            let mut buf = vec![0u8; r.buffer_len()];
            r.emit_with_payload(&mut Packet::new_unchecked(&mut buf[..]), PEER, LOCAL, true);
            let before = s.connection_count();
            s.tcp_input(now, PEER, LOCAL, &buf, true);
            let sent = drain(&mut s, now);
            if r.flags.contains(TcpFlags::RST) && before == s.connection_count() && *dport == 9 {
                // RFC 9293 §3.10.7.1: no connection, and a RST: never answered.
                prop_assert!(sent.is_empty(), "{:?}", sent);
            }
            prop_assert!(s.connection_count() <= 64);
            now += Duration::from_millis(3);
            s.on_timeout(now);
            let _ = drain(&mut s, now);
        }
        // Everything finishes once time runs out.
        for _ in 0..2_000 {
            match s.poll_timeout() {
                Some(t) => {
                    now = t.max(now) + Duration::from_millis(1);
                    s.on_timeout(now);
                    let _ = drain(&mut s, now);
                }
                None => break,
            }
        }
        prop_assert_eq!(s.connection_count(), 0);
    }
}
