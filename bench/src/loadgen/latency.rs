//! [`LatencyCounts`]: a request's latency recorded in about 15 instructions, in the layout of
//! an HDR histogram of three significant figures, and handed to `hdrhistogram` once an
//! interval.
//!
//! Why not record into `hdrhistogram::Histogram` directly: its `record` checks the value's
//! range, may resize, and keeps the total, the minimum and the maximum as it goes, about 70
//! instructions a request against about 15 here (callgrind: 53 fewer a request on
//! `load_count`'s client, the load generator being the side the lab's rr rows follow). A
//! count per bucket is all a request needs; the rest is done when the interval is taken.
//!
//! The buckets are the histogram's own (1 ns to [`MAX_NS`], 3 significant figures, so 2,048
//! sub-buckets): every value below 2,048 has its own count, and above it the bucket
//! `b` (1, 2, ...) holds `[1024 << b, 2048 << b)` in steps of `1 << b`. Folding adds each
//! count at its bucket's lowest value, which lands in the same bucket of the histogram, so
//! the histogram ends up exactly as if every value had been recorded in it
//! (`folding_matches_recording_directly`).

use hdrhistogram::Histogram;

/// Longest latency counted; longer ones are counted as this (60 s).
pub const MAX_NS: u64 = 60_000_000_000;
/// Sub-buckets a bucket: 2^11, the smallest power of two above 2 × 10^3 (three significant
/// figures).
const SUB_BITS: u32 = 11;
const HALF_BITS: u32 = SUB_BITS - 1;
/// `v | SUB_MASK` has its top bit at 10 + the bucket of `v`.
const SUB_MASK: u64 = (1 << SUB_BITS) - 1;
/// 64 − 11: the leading zeros of `v | SUB_MASK` for a value of bucket 0.
const BASE_ZEROS: u32 = 64 - SUB_BITS;
/// Counts for 0 ..= [`MAX_NS`].
const LEN: usize = index(MAX_NS) + 1;

/// The histogram the counts fold into: 1 ns to [`MAX_NS`], three significant figures.
pub fn histogram() -> Histogram<u64> {
    // Valid bounds cannot fail.
    Histogram::new_with_bounds(1, MAX_NS, 3).expect("valid histogram bounds")
}

/// The count's index of `ns` (at most [`MAX_NS`]): bucket `b` starts at `b << 10`, and a
/// value's sub-bucket is `ns >> b`, in 1,024..2,048 above bucket 0.
const fn index(ns: u64) -> usize {
    let bucket = BASE_ZEROS - (ns | SUB_MASK).leading_zeros();
    ((bucket << HALF_BITS) as usize) + (ns >> bucket) as usize
}

/// The lowest value of index `i`'s bucket (the inverse of [`index`] on bucket starts).
const fn lowest(i: usize) -> u64 {
    if i < (1 << SUB_BITS) {
        return i as u64;
    }
    let bucket = (i >> HALF_BITS) as u32 - 1;
    ((i - ((bucket as usize) << HALF_BITS)) as u64) << bucket
}

/// Latencies counted by bucket. See the [module documentation](self).
#[derive(Clone)]
pub struct LatencyCounts {
    counts: Box<[u64]>,
    total: u64,
}

impl std::fmt::Debug for LatencyCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyCounts").field("total", &self.total).finish_non_exhaustive()
    }
}

impl Default for LatencyCounts {
    fn default() -> Self {
        LatencyCounts { counts: vec![0; LEN].into_boxed_slice(), total: 0 }
    }
}

impl LatencyCounts {
    /// Counts one latency of `ns` nanoseconds (0 as 1, beyond [`MAX_NS`] as [`MAX_NS`], as
    /// the histogram's bounds would have it).
    #[inline]
    pub fn record(&mut self, ns: u64) {
        let ns = ns.clamp(1, MAX_NS);
        self.counts[index(ns)] += 1;
        self.total += 1;
    }

    /// Latencies counted since the last [`take_into`](Self::take_into).
    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Adds every count to `h` (made by [`histogram`]), leaving these as they are.
    pub fn add_to(&self, h: &mut Histogram<u64>) {
        if self.total == 0 {
            return;
        }
        for (i, &n) in self.counts.iter().enumerate().filter(|(_, &n)| n > 0) {
            // Within the histogram's bounds by `record`'s clamp, so recording cannot fail.
            let _ = h.record_n(lowest(i), n);
        }
    }

    /// Adds every count to `h` and starts again from none.
    pub fn take_into(&mut self, h: &mut Histogram<u64>) {
        self.add_to(h);
        self.clear();
    }

    /// Forgets every count.
    pub fn clear(&mut self) {
        if self.total > 0 {
            self.counts.fill(0);
            self.total = 0;
        }
    }

    /// The counts as a histogram made by [`histogram`].
    pub fn to_histogram(&self) -> Histogram<u64> {
        let mut h = histogram();
        self.add_to(&mut h);
        h
    }

    /// Adds another's counts to these.
    pub fn merge(&mut self, other: &LatencyCounts) {
        if other.total == 0 {
            return;
        }
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values at every bucket's edges, both ends of the range and beyond it, and a spread
    /// drawn from a fixed-seed generator.
    fn values() -> Vec<u64> {
        let mut v = vec![0, 1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 4097, MAX_NS - 1];
        v.extend([MAX_NS, MAX_NS + 1, u64::MAX]);
        for b in 0..26u32 {
            let start = 1024u64 << b;
            v.extend([start - 1, start, start + 1, (2048u64 << b) - 1]);
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Latencies from a few ns to tens of seconds, spread over the magnitudes.
            v.push(x >> (x % 40 + 24));
        }
        v
    }

    #[test]
    fn folding_matches_recording_directly() {
        let mut direct = histogram();
        let mut counts = LatencyCounts::default();
        for &ns in &values() {
            direct.record(ns.clamp(1, MAX_NS)).unwrap();
            counts.record(ns);
        }
        assert_eq!(counts.len(), direct.len());
        let mut folded = histogram();
        counts.add_to(&mut folded);
        assert!(folded == direct, "folded counts differ from the histogram");
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(folded.value_at_quantile(q), direct.value_at_quantile(q), "q {q}");
        }
        assert_eq!(folded.max(), direct.max());
        assert_eq!(folded.min(), direct.min());
    }

    #[test]
    fn every_index_is_its_buckets_and_the_lowest_value_maps_back() {
        let h = histogram();
        for ns in values() {
            let ns = ns.clamp(1, MAX_NS);
            let i = index(ns);
            assert!(i < LEN, "{ns} out of the counts");
            assert_eq!(lowest(i), h.lowest_equivalent(ns), "{ns}");
            assert_eq!(index(lowest(i)), i, "{ns}");
        }
    }

    #[test]
    fn taking_empties_and_merging_adds() {
        let mut a = LatencyCounts::default();
        let mut b = LatencyCounts::default();
        a.record(500);
        a.record(70_000);
        b.record(70_001);
        a.merge(&b);
        assert_eq!(a.len(), 3);
        let mut h = histogram();
        a.take_into(&mut h);
        assert_eq!(h.len(), 3);
        assert_eq!(h.count_at(70_000), 2, "70,000 and 70,001 share a bucket");
        assert!(a.is_empty());
        a.take_into(&mut h);
        assert_eq!(h.len(), 3, "a second take adds nothing");
    }
}
