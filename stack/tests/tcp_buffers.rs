//! Model-based property tests of the chunked byte stream and the out-of-order range set.

use std::collections::{BTreeSet, VecDeque};

use proptest::prelude::*;
use xdptcp_stack::tcp::buffer::ChunkQueue;
use xdptcp_stack::tcp::reassembly::{Reassembly, MAX_RANGES};
use xdptcp_stack::tcp::{ChunkPool, MemoryBudget, SeqNumber, CHUNK_SIZE};

#[derive(Clone, Debug)]
enum QueueOp {
    Enqueue(usize, u8),
    Consume(usize),
    WriteSlices(usize, u8),
}

proptest! {
    #[test]
    fn chunk_queue_matches_a_deque(
        limit in 1usize..20_000,
        budget_chunks in 1usize..8,
        ops in proptest::collection::vec(prop_oneof![
            (0usize..9000, any::<u8>()).prop_map(|(n, b)| QueueOp::Enqueue(n, b)),
            (0usize..9000).prop_map(QueueOp::Consume),
            (0usize..5000, any::<u8>()).prop_map(|(n, b)| QueueOp::WriteSlices(n, b)),
        ], 1..60),
    ) {
        let c = CHUNK_SIZE;
        let high = budget_chunks * c;
        let mut pool = ChunkPool::new(MemoryBudget { low: high, pressure: high, high }, 2 * c);
        let mut q = ChunkQueue::new();
        let mut model: VecDeque<u8> = VecDeque::new();
        for op in ops {
            let room = limit - model.len().min(limit);
            match op {
                QueueOp::Enqueue(n, b) => {
                    let data: Vec<u8> = (0..n).map(|i| b.wrapping_add(i as u8)).collect();
                    let k = q.enqueue(&mut pool, &data, room, false);
                    prop_assert!(k <= n.min(room));
                    model.extend(&data[..k]);
                }
                QueueOp::Consume(n) => {
                    let k = q.consume(&mut pool, n);
                    prop_assert_eq!(k, n.min(model.len()));
                    model.drain(..k);
                }
                QueueOp::WriteSlices(n, b) => {
                    let x = q.writable(&mut pool, room, false);
                    prop_assert!(x.len() <= room.min(c));
                    let n = n.min(x.len());
                    for (i, slot) in x.iter_mut().take(n).enumerate() {
                        *slot = b.wrapping_add(i as u8);
                    }
                    prop_assert_eq!(q.commit_room(&mut pool, n), n);
                    model.extend((0..n).map(|i| b.wrapping_add(i as u8)));
                }
            }
            prop_assert_eq!(q.len(), model.len());
            // Chunks: exactly those the bytes need, never beyond the budget.
            let need = if model.is_empty() { 0 } else { (q.head_offset() + model.len()).div_ceil(c) };
            prop_assert_eq!(q.chunks(), need);
            prop_assert_eq!(pool.bytes_in_use(), need * c);
            prop_assert!(pool.bytes_in_use() <= high);
            // Reading from the front, pieces at a time, agrees with the model.
            let mut got = Vec::new();
            let (a, b) = q.readable(&pool);
            got.extend_from_slice(a);
            got.extend_from_slice(b);
            let mut off = got.len();
            while off < model.len() {
                let (a, b) = q.slices_at(&pool, off, model.len() - off);
                prop_assert!(!a.is_empty());
                got.extend_from_slice(a);
                got.extend_from_slice(b);
                off += a.len() + b.len();
            }
            prop_assert_eq!(&got, &model.iter().copied().collect::<Vec<_>>());
        }
        q.clear(&mut pool);
        prop_assert_eq!(pool.bytes_in_use(), 0);
    }

    #[test]
    fn out_of_order_writes_read_back_in_order(
        pieces in proptest::collection::vec((0usize..12_000, 1usize..2000), 1..30),
    ) {
        // Bytes written at their offsets in any order read back as the stream once the gaps
        // are filled.
        let total = 14_000;
        let stream: Vec<u8> = (0..total).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut pool = ChunkPool::unbounded();
        let mut q = ChunkQueue::new();
        for &(off, len) in &pieces {
            let end = (off + len).min(total);
            prop_assert_eq!(q.write_at(&mut pool, off, &stream[off..end], false), end - off);
        }
        prop_assert_eq!(q.write_at(&mut pool, 0, &stream, false), total);
        prop_assert_eq!(q.commit(total), total);
        let mut out = vec![0u8; total];
        prop_assert_eq!(q.dequeue(&mut pool, &mut out), total);
        prop_assert_eq!(out, stream);
        prop_assert_eq!((q.chunks(), pool.bytes_in_use()), (0, 0));
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
