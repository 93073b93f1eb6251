#![no_main]
//! Hostile datagrams against two connected `rudp` endpoints
//! (`xdptcp_stack::sim::rudp::hostile_datagrams`): no panic, no more held than the receive
//! window, and the connection still carries messages. The `rudp_hostile_datagrams` property
//! test runs the same body.
use libfuzzer_sys::fuzz_target;
use xdptcp_stack::sim::rudp::hostile_datagrams;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = hostile_datagrams(data) {
        panic!("invariant broken: {v}");
    }
});
