//! Model-based property tests of the byte ring and the out-of-order range set.

use std::collections::{BTreeSet, VecDeque};

use proptest::prelude::*;
use xdptcp_stack::tcp::buffer::RingBuffer;
use xdptcp_stack::tcp::reassembly::{Reassembly, MAX_RANGES};
use xdptcp_stack::tcp::SeqNumber;

#[derive(Clone, Debug)]
enum RingOp {
    Enqueue(Vec<u8>),
    Consume(usize),
    WriteSlices(usize, u8),
}

proptest! {
    #[test]
    fn ring_matches_a_deque(
        cap in 1usize..64,
        ops in proptest::collection::vec(prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(RingOp::Enqueue),
            (0usize..40).prop_map(RingOp::Consume),
            (0usize..40, any::<u8>()).prop_map(|(n, b)| RingOp::WriteSlices(n, b)),
        ], 1..60),
    ) {
        let mut ring = RingBuffer::new(cap);
        let mut model: VecDeque<u8> = VecDeque::new();
        for op in ops {
            match op {
                RingOp::Enqueue(d) => {
                    let n = ring.enqueue(&d);
                    prop_assert_eq!(n, d.len().min(cap - model.len()));
                    model.extend(&d[..n]);
                }
                RingOp::Consume(n) => {
                    let k = ring.consume(n);
                    prop_assert_eq!(k, n.min(model.len()));
                    model.drain(..k);
                }
                RingOp::WriteSlices(n, b) => {
                    let (x, y) = ring.writable();
                    prop_assert_eq!(x.len() + y.len(), cap - model.len());
                    let n = n.min(x.len() + y.len());
                    for (i, slot) in x.iter_mut().chain(y.iter_mut()).take(n).enumerate() {
                        *slot = b.wrapping_add(i as u8);
                    }
                    prop_assert_eq!(ring.commit(n), n);
                    model.extend((0..n).map(|i| b.wrapping_add(i as u8)));
                }
            }
            let (a, b) = ring.readable();
            let got: Vec<u8> = a.iter().chain(b).copied().collect();
            prop_assert_eq!(&got, &model.iter().copied().collect::<Vec<_>>());
            // Reading at any offset agrees with the model.
            if !model.is_empty() {
                let off = model.len() / 3;
                let (a, b) = ring.slices_at(off, model.len() - off);
                let part: Vec<u8> = a.iter().chain(b).copied().collect();
                prop_assert_eq!(&part[..], &got[off..]);
            }
        }
    }

    #[test]
    fn reassembly_matches_a_set(
        base in any::<u32>(),
        inserts in proptest::collection::vec((0u32..500, 1u32..60), 1..40),
        advance_to in 0u32..600,
    ) {
        let mut r = Reassembly::new();
        let mut held: BTreeSet<u32> = BTreeSet::new();
        for (off, len) in inserts {
            let res = r.insert(SeqNumber(base.wrapping_add(off)), SeqNumber(base.wrapping_add(off + len)));
            if res.is_ok() {
                held.extend(off..off + len);
            }
            prop_assert!(r.range_count() <= MAX_RANGES);
            // Ranges are sorted, disjoint, non-adjacent and cover exactly the model set.
            let ranges: Vec<(u32, u32)> =
                r.ranges().map(|(a, b)| (a.0.wrapping_sub(base), b.0.wrapping_sub(base))).collect();
            for w in ranges.windows(2) {
                prop_assert!(w[0].1 < w[1].0);
            }
            let covered: BTreeSet<u32> = ranges.iter().flat_map(|&(a, b)| a..b).collect();
            prop_assert_eq!(&covered, &held);
            // SACK blocks are a subset of the ranges.
            let blocks = r.sack_blocks(4);
            prop_assert_eq!(blocks.len(), ranges.len().min(4));
        }
        // Advancing to `advance_to` returns the first sequence number not held from there.
        let mut expect = advance_to;
        while held.contains(&expect) {
            expect += 1;
        }
        let got = r.advance(SeqNumber(base.wrapping_add(advance_to)));
        prop_assert_eq!(got.0.wrapping_sub(base), expect);
        prop_assert!(r.ranges().all(|(a, _)| a.0.wrapping_sub(base) > expect));
    }
}
