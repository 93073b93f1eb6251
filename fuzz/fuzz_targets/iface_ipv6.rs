#![no_main]
//! Fuzzes an interface with IPv6 on against a hostile link: frames built around valid headers
//! (Neighbor Discovery, ICMPv6, UDP) and raw, time steps and sends; every frame it transmits
//! must be well formed. The body is shared with stack/tests/iface_ipv6_hostile.rs.
use libfuzzer_sys::fuzz_target;

#[path = "../../stack/tests/iface_ipv6_common/mod.rs"]
mod iface_ipv6_common;

fuzz_target!(|data: &[u8]| {
    iface_ipv6_common::run(data);
});
