#![no_main]
//! A hostile peer against a whole `Stack`: the bytes decode into a stack setup and a list of
//! peer segments, time jumps and application calls (`xdptcp_stack::sim::hostile`), and every
//! invariant of that model is checked after every step, not only "no panic". The
//! `stack_hostile_peer` property test runs the same body.
use libfuzzer_sys::fuzz_target;
use xdptcp_stack::sim::hostile;

fuzz_target!(|data: &[u8]| {
    if let Err(v) = hostile::run(data) {
        // Re-run with the trace so that the crash report shows how the stack got there.
        let (_, trace) = hostile::run_traced(data);
        let tail = &trace[trace.len().saturating_sub(80)..];
        panic!("invariant broken: {v}\n{}", tail.join("\n"));
    }
});
