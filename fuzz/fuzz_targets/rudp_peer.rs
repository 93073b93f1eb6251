#![no_main]
//! Hostile datagrams against connected `rudp` endpoints
//! (`xdptcp_stack::sim::rudp::hostile_datagrams`): raw and forged ones (an outsider's) against
//! one pair, which must stay established and carry messages; ones sealed with the real key
//! (a misbehaving peer) against another, which must not panic. Neither may hold more than
//! its receive window. The `rudp_hostile_datagrams` property test runs the same body.
use libfuzzer_sys::fuzz_target;
use xdptcp_stack::sim::rudp::hostile_datagrams;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = hostile_datagrams(data) {
        panic!("invariant broken: {v}");
    }
});
