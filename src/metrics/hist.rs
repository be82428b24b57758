//! Allocation-free log2-bucketed latency histograms for the hot path and the journal thread.
//!
//! Bucket `i` counts observations `<= 2^(MIN_LOG2 + i)` ns (and above the previous bound); the
//! last bucket counts everything larger (Prometheus `+Inf`). Recording is one `leading_zeros`,
//! one add to a fixed array and two adds: no allocation, no branch on the bucket table.
//!
//! - [`Histogram`]: plain counts owned by one thread (the hot thread keeps one locally and
//!   publishes it with its other counters: [`SharedHistogram::publish`]).
//! - [`SharedHistogram`]: the same counts as atomics, written by a single thread (Relaxed stores
//!   or adds: statistics, no ordering with anything else) and read by the metrics thread.
use std::sync::atomic::{AtomicU64, Ordering};

/// log2 of the first bucket's upper bound in ns (256 ns).
pub const MIN_LOG2: u32 = 8;
/// Finite buckets: upper bounds 2^8 ns (256 ns) .. 2^33 ns (about 8.6 s).
pub const FINITE_BUCKETS: usize = 26;
/// Buckets including the `+Inf` one.
pub const BUCKETS: usize = FINITE_BUCKETS + 1;

/// The bucket of an observation of `ns` nanoseconds.
#[inline(always)]
pub fn bucket_of(ns: u64) -> usize {
    if ns <= 1 << MIN_LOG2 {
        return 0;
    }
    // ceil(log2(ns)) for ns >= 2.
    let log2 = 64 - (ns - 1).leading_zeros();
    ((log2 - MIN_LOG2) as usize).min(FINITE_BUCKETS)
}

/// Upper bound of bucket `i` in ns; `None` for the `+Inf` bucket.
pub fn upper_bound_ns(i: usize) -> Option<u64> {
    (i < FINITE_BUCKETS).then(|| 1u64 << (MIN_LOG2 + i as u32))
}

/// Counts owned by one thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Histogram {
    /// Per-bucket counts (not cumulative).
    pub buckets: [u64; BUCKETS],
    /// Sum of the observations, ns (wrapping: ~584 years of latency).
    pub sum_ns: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: [0; BUCKETS],
            sum_ns: 0,
        }
    }
}

impl Histogram {
    /// Records `n` observations of `ns` each.
    #[inline(always)]
    pub fn record_n(&mut self, ns: u64, n: u64) {
        self.buckets[bucket_of(ns)] += n;
        self.sum_ns = self.sum_ns.wrapping_add(ns.wrapping_mul(n));
    }

    /// Records one observation.
    #[inline(always)]
    pub fn record(&mut self, ns: u64) {
        self.record_n(ns, 1);
    }

    /// Observations recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Cumulative counts per bucket (Prometheus `_bucket{le=..}`), the last one is the count.
    pub fn cumulative(&self) -> [u64; BUCKETS] {
        let mut out = [0; BUCKETS];
        let mut acc = 0u64;
        for (o, b) in out.iter_mut().zip(&self.buckets) {
            acc += b;
            *o = acc;
        }
        out
    }

    /// The smallest bucket bound (ns) with at least `q` (0..=1) of the observations at or below
    /// it; `None` when empty or when the quantile lies in the `+Inf` bucket.
    pub fn quantile_bound_ns(&self, q: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let want = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let c = self.cumulative();
        let i = c.iter().position(|&x| x >= want)?;
        upper_bound_ns(i)
    }
}

/// A [`Histogram`] other threads can read. One writer only.
#[derive(Debug)]
pub struct SharedHistogram {
    buckets: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
}

impl Default for SharedHistogram {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
        }
    }
}

impl SharedHistogram {
    /// Records one observation (the single writer; a read-modify-write, Relaxed: statistics).
    #[inline]
    pub fn record(&self, ns: u64) {
        self.buckets[bucket_of(ns)].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Publishes the writer's local copy (Relaxed stores, no read-modify-write).
    #[inline]
    pub fn publish(&self, h: &Histogram) {
        for (a, v) in self.buckets.iter().zip(h.buckets) {
            a.store(v, Ordering::Relaxed);
        }
        self.sum_ns.store(h.sum_ns, Ordering::Relaxed);
    }

    /// A copy (Relaxed loads: the buckets may be from slightly different moments, each one is a
    /// value the writer stored; the count is derived from the buckets so that it always equals
    /// the `+Inf` bucket).
    pub fn snapshot(&self) -> Histogram {
        let mut h = Histogram::default();
        for (o, a) in h.buckets.iter_mut().zip(&self.buckets) {
            *o = a.load(Ordering::Relaxed);
        }
        h.sum_ns = self.sum_ns.load(Ordering::Relaxed);
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_log2_with_inclusive_upper_bounds() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(256), 0);
        assert_eq!(bucket_of(257), 1);
        assert_eq!(bucket_of(512), 1);
        assert_eq!(bucket_of(513), 2);
        assert_eq!(bucket_of(1 << 33), FINITE_BUCKETS - 1);
        assert_eq!(bucket_of((1 << 33) + 1), FINITE_BUCKETS);
        assert_eq!(bucket_of(u64::MAX), FINITE_BUCKETS);
        for i in 0..FINITE_BUCKETS {
            let b = upper_bound_ns(i).unwrap();
            assert_eq!(bucket_of(b), i);
            assert_eq!(bucket_of(b + 1), i + 1);
        }
        assert_eq!(upper_bound_ns(FINITE_BUCKETS), None);
    }

    #[test]
    fn records_publishes_and_reads_back() {
        let mut h = Histogram::default();
        h.record(100);
        h.record_n(3_000, 3);
        h.record(u64::MAX / 2);
        assert_eq!(h.count(), 5);
        let c = h.cumulative();
        assert_eq!(c[0], 1);
        assert_eq!(c[bucket_of(3_000)], 4);
        assert_eq!(c[BUCKETS - 1], 5);
        assert!(c.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(h.quantile_bound_ns(0.5), Some(4096));
        assert_eq!(h.quantile_bound_ns(0.0), Some(256));
        assert_eq!(h.quantile_bound_ns(1.0), None);
        let s = SharedHistogram::default();
        s.publish(&h);
        assert_eq!(s.snapshot(), h);
        s.record(100);
        assert_eq!(s.snapshot().count(), 6);
        assert_eq!(Histogram::default().quantile_bound_ns(0.5), None);
    }
}
