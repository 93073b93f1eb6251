#![no_main]
//! Parses arbitrary bytes as a TCP segment, calls every accessor, and when parsing succeeds
//! emits the representation and checks that it parses back to the same thing.
use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use xdptcp_stack::wire::tcp::{Packet, TcpRepr};
use xdptcp_stack::wire::tcp_options::SackBlocks;

fuzz_target!(|data: &[u8]| {
    // The first 8 bytes pick the addresses, so the pseudo-header varies too.
    let Some((addrs, segment)) = data.split_first_chunk::<8>() else {
        return;
    };
    let src = Ipv4Addr::new(addrs[0], addrs[1], addrs[2], addrs[3]);
    let dst = Ipv4Addr::new(addrs[4], addrs[5], addrs[6], addrs[7]);
    let Ok(packet) = Packet::new_checked(segment) else {
        return;
    };
    let _ = (
        packet.src_port(),
        packet.dst_port(),
        packet.seq_number(),
        packet.ack_number(),
        packet.flags(),
        packet.fin() | packet.syn() | packet.rst() | packet.psh(),
        packet.ack() | packet.urg() | packet.ece() | packet.cwr(),
        packet.reserved(),
        packet.window_len(),
        packet.checksum(),
        packet.urgent_at(),
        packet.options().len(),
        packet.payload().len(),
        packet.verify_checksum(src, dst),
    );
    assert!(packet.header_len() >= 20 && packet.header_len() <= segment.len());
    for option in packet.option_iter() {
        let _ = option;
    }
    for verify in [true, false] {
        let Ok(repr) = TcpRepr::parse(&packet, src, dst, verify) else {
            continue;
        };
        let _ = (repr.header_len(), repr.segment_len(), repr.to_string());
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit_with_payload(&mut Packet::new_unchecked(&mut buf[..]), src, dst, true);
        let again = Packet::new_checked(&buf[..]).expect("emitted header is valid");
        let back = TcpRepr::parse(&again, src, dst, true).expect("emitted segment parses");
        // Only the SACK blocks that fit the option space are sent.
        let mut want = repr;
        want.sack_blocks = SackBlocks::from_slice(repr.sack_blocks_sent());
        assert_eq!(back, want);
    }
});
