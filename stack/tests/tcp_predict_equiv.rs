//! Header prediction changes nothing but speed: the same traffic, run once with prediction
//! on and once with it off (`Connection::set_header_prediction`), must give the same
//! segments on the wire, at the same instants, and the same connection state to the last
//! byte (the `Debug` form of each endpoint, connection and chunk pool, compared with only
//! the prediction byte and its counter masked). The harness and its seeded traffic are
//! `common::equiv`'s: a fast path that skipped an effect of the full path (an RTT sample,
//! `TS.Recent`, a timer, a counter, an event) shows up as a state or a segment that differs.

mod common;

use common::equiv::{check, FastPath};

const PREDICTION: FastPath = FastPath {
    set: |c, on| c.set_header_prediction(on),
    // The counter twice: its high word (in the connection's cold parts, first in the
    // `Debug` form) and its low word (`SegCounts`, among the hot parts).
    masks: &[
        ("pred: Prediction { expected: ", |c| c.is_ascii_digit()),
        ("predicted_segments: ", |c| c.is_ascii_digit()),
        ("predicted_segments: ", |c| c.is_ascii_digit()),
    ],
    ready: None,
    send_marks: false,
};

#[test]
fn prediction_on_and_off_give_the_same_segments_and_state() {
    let (mut predicted, mut received) = (0, 0);
    for seed in 0..32 {
        let (on, off) = check(seed, &PREDICTION);
        let count = |o: &common::equiv::Outcome| {
            o.counters.iter().map(|c| c.predicted_segments).sum::<u64>()
        };
        assert_eq!(count(&off), 0, "seed {seed}: prediction was off");
        predicted += count(&on);
        received += on.counters.iter().map(|c| c.in_segs).sum::<u64>();
    }
    // The fast path was taken, and often: the comparison above covered it.
    eprintln!("{predicted} of {received} segments predicted");
    assert!(predicted * 5 > received, "only {predicted} of {received} segments predicted");
}
