//! A set of `u64` values kept as disjoint, sorted, half-open ranges.
//!
//! One structure serves three jobs in `rudp`: packet numbers received (the source of ACK
//! ranges, RFC 9000 §19.3 style), bytes of a message received (reassembly coverage), and ids
//! of messages already delivered (duplicate suppression). In the common case values arrive
//! in order and extend the last range, which is O(1); out-of-order values cost a search over
//! a short vector. The number of ranges is capped by the caller's `limit`: beyond it the
//! lowest range is forgotten (for ACKs, old ranges have long been reported), or the caller
//! refuses the insertion first with [`RangeSet::would_fit`].

/// Disjoint `[start, end)` ranges, sorted ascending, never adjacent (adjacent ones merge).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSet {
    ranges: Vec<(u64, u64)>,
}

impl RangeSet {
    /// An empty set.
    pub const fn new() -> Self {
        RangeSet { ranges: Vec::new() }
    }

    /// Whether `v` is in the set.
    pub fn contains(&self, v: u64) -> bool {
        match self.ranges.binary_search_by(|&(s, _)| s.cmp(&v)) {
            Ok(_) => true,
            Err(0) => false,
            Err(i) => self.ranges[i - 1].1 > v,
        }
    }

    /// Whether `[start, end)` is entirely in the set.
    pub fn contains_range(&self, start: u64, end: u64) -> bool {
        if start >= end {
            return true;
        }
        match self.ranges.binary_search_by(|&(s, _)| s.cmp(&start)) {
            Ok(i) => self.ranges[i].1 >= end,
            Err(0) => false,
            Err(i) => self.ranges[i - 1].1 >= end,
        }
    }

    /// Adds `[start, end)`. Returns how many values were new.
    pub fn insert(&mut self, start: u64, end: u64) -> u64 {
        if start >= end {
            return 0;
        }
        // Fast path: in-order arrival extends (or follows) the last range.
        if let Some(last) = self.ranges.last_mut() {
            if start >= last.0 && start <= last.1 {
                let added = end.saturating_sub(last.1);
                last.1 = last.1.max(end);
                return added;
            }
        }
        if self.ranges.last().is_none_or(|&(_, e)| e < start) {
            self.ranges.push((start, end));
            return end - start;
        }
        // General case: merge every range touching [start, end).
        let first = self.ranges.partition_point(|&(_, e)| e < start);
        let mut last = first;
        let mut covered = 0;
        let (mut s, mut e) = (start, end);
        while last < self.ranges.len() && self.ranges[last].0 <= end {
            let (rs, re) = self.ranges[last];
            covered += re.min(end).saturating_sub(rs.max(start));
            s = s.min(rs);
            e = e.max(re);
            last += 1;
        }
        self.ranges.splice(first..last, core::iter::once((s, e)));
        (end - start) - covered
    }

    /// Adds one value. Returns whether it was new.
    pub fn insert_one(&mut self, v: u64) -> bool {
        self.insert(v, v.saturating_add(1)) == 1
    }

    /// Whether inserting `[start, end)` keeps the set within `limit` ranges.
    pub fn would_fit(&self, start: u64, end: u64, limit: usize) -> bool {
        if self.ranges.len() < limit {
            return true;
        }
        // Full: only an insertion that touches an existing range adds none.
        let i = self.ranges.partition_point(|&(_, e)| e < start);
        i < self.ranges.len() && self.ranges[i].0 <= end
    }

    /// Forgets the lowest ranges until at most `limit` remain.
    pub fn truncate_low(&mut self, limit: usize) {
        if self.ranges.len() > limit {
            let excess = self.ranges.len() - limit;
            self.ranges.drain(..excess);
        }
    }

    /// Removes every value below `v`.
    pub fn remove_below(&mut self, v: u64) {
        let i = self.ranges.partition_point(|&(_, e)| e <= v);
        self.ranges.drain(..i);
        if let Some(first) = self.ranges.first_mut() {
            first.0 = first.0.max(v);
        }
    }

    /// The ranges, highest first (the order an ACK frame lists them in).
    pub fn iter_desc(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().rev().copied()
    }

    /// The ranges, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().copied()
    }

    /// The end of the range starting at `v` (or containing it), if `v` is in the set.
    pub fn run_end(&self, v: u64) -> Option<u64> {
        let i = self.ranges.partition_point(|&(_, e)| e <= v);
        self.ranges.get(i).filter(|&&(s, _)| s <= v).map(|&(_, e)| e)
    }

    /// The largest value in the set.
    pub fn max(&self) -> Option<u64> {
        self.ranges.last().map(|&(_, e)| e - 1)
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Bytes of heap this set holds.
    pub fn heap_bytes(&self) -> usize {
        self.ranges.capacity() * core::mem::size_of::<(u64, u64)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn merges_and_counts_new_values() {
        let mut s = RangeSet::new();
        assert_eq!(s.insert(10, 20), 10);
        assert_eq!(s.insert(30, 40), 10);
        assert_eq!(s.insert(15, 35), 10);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(10, 40)]);
        assert_eq!(s.insert(0, 5), 5);
        assert_eq!(s.insert(5, 10), 5);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(0, 40)]);
        assert!(s.contains(39) && !s.contains(40));
        assert!(s.contains_range(0, 40) && !s.contains_range(0, 41));
        s.remove_below(20);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(20, 40)]);
        assert_eq!(s.run_end(25), Some(40));
        assert_eq!(s.run_end(45), None);
    }

    proptest! {
        /// The set agrees with a plain boolean model on membership and on new-value counts.
        #[test]
        fn matches_model(ops in prop::collection::vec((0u64..200, 0u64..20), 1..60)) {
            let mut s = RangeSet::new();
            let mut model = [false; 220];
            for (start, len) in ops {
                let end = start + len;
                let expect = (start..end).filter(|&v| !model[v as usize]).count() as u64;
                prop_assert_eq!(s.insert(start, end), expect);
                for v in start..end { model[v as usize] = true; }
                for (v, &m) in model.iter().enumerate() {
                    prop_assert_eq!(s.contains(v as u64), m);
                }
                let r: Vec<_> = s.iter().collect();
                prop_assert!(r.windows(2).all(|w| w[0].1 < w[1].0));
            }
        }
    }
}
