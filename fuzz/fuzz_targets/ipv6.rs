#![no_main]
//! Fuzzes the ipv6 parser: every accessor and representation, and when parsing succeeds, emit
//! followed by a re-parse that must agree. The body is shared with the property test
//! `random_bytes_never_panic` in stack/tests/wire_ipv6_etherparse.rs.
use libfuzzer_sys::fuzz_target;

#[path = "../../stack/tests/wire_ipv6_common/mod.rs"]
mod wire_ipv6_common;

fuzz_target!(|data: &[u8]| {
    wire_ipv6_common::ipv6(data);
});
