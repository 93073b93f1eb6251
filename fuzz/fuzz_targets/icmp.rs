#![no_main]
//! Fuzzes the icmp parser: `new_checked`, every accessor, `Repr::parse`, and when parsing
//! succeeds, emit followed by a re-parse that must agree. The body is shared with the
//! property test `parsers_never_panic` in stack/tests/wire_lower_props.rs.
use libfuzzer_sys::fuzz_target;

#[path = "../../stack/tests/wire_lower_common/mod.rs"]
mod wire_lower_common;

fuzz_target!(|data: &[u8]| {
    wire_lower_common::icmp(data);
});
