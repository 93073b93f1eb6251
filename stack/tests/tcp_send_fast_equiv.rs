//! The common-case sender changes nothing but speed: the same traffic, run once with it on
//! and once with it off (`Connection::set_send_fast`), must give the same segments on the
//! wire, at the same instants, and the same connection state to the last byte (the `Debug`
//! form of each endpoint, connection and chunk pool, compared with only the switch masked).
//!
//! The harness is `common::equiv`'s, with the sender's rarer inputs on: loss, duplication
//! and reordering (so SACK, DSACK, recovery, RTOs and tail loss probes come and go, and the
//! fast path must step aside for them), writes with `MSG_MORE` or `MSG_EOR`, cork set and
//! lifted, windows that close and reopen, and per seed timestamps, SACK, window scaling,
//! delayed ACKs, Nagle, RACK and pacing on or off. A fast path that skipped an effect of the
//! general planner (an RTT probe, a timer, the TSO packet cut, a scoreboard record, a
//! counter, the chronograph) shows up as a state or a segment that differs.

mod common;

use common::equiv::{check, FastPath};

const SEND_FAST: FastPath = FastPath {
    set: |c, on| c.set_send_fast(on),
    masks: &[("send_fast: ", |c| c.is_ascii_alphabetic())],
    ready: Some(|c| c.common_segment_ready()),
    send_marks: true,
};

#[test]
fn send_fast_on_and_off_give_the_same_segments_and_state() {
    let (mut fast, mut sent) = (0, 0);
    for seed in 0..32 {
        let (on, off) = check(seed, &SEND_FAST);
        assert_eq!(off.ready, 0, "seed {seed}: the fast path was off");
        fast += on.ready;
        sent += on.wire.iter().filter(|(_, _, x)| !x.payload.is_empty()).count() as u64;
    }
    // The fast path was taken, and often: the comparison above covered it. Pacing seeds,
    // cork, MSG_MORE, records, loss and SACK send the rest the general way.
    eprintln!("{fast} of {sent} data segments planned by the common-case sender");
    assert!(fast * 5 > sent, "only {fast} of {sent} data segments took the fast path");
}
