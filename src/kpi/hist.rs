//! A decayed, log-bucketed latency histogram (p50 / p99 in nanoseconds).
//!
//! 128 buckets: bucket 0 holds everything below 256 ns; then 4 buckets per power of two (about 19%
//! wide each, so a quantile is within about 9% of the truth) up to 2^40 ns (18 minutes); the last
//! bucket holds everything above. Weights are the forward-decay weights of the owning cell's fast
//! window ([`super::decay`]), so the histogram decays with no per-update rescaling.

/// Number of buckets.
pub const HIST_BUCKETS: usize = 128;
const MIN_OCTAVE: u32 = 8;

/// Two histograms' bins interleaved, `[b][0]` ack and `[b][1]` fill: an order's ack and fill
/// latencies usually fall in the same bucket, so both updates touch one cache line.
pub type Bins2 = [[f32; 2]; HIST_BUCKETS];

/// The totals of a histogram whose bins live elsewhere (the engine keeps the bins of every cell
/// in one zero-initialised arena and these totals in the cell's header).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistMeta {
    /// Sum of the bins (kept so a quantile scan can stop early).
    total: f64,
    /// Highest bucket ever used + 1 (the scan's end).
    end: u8,
    /// Lowest bucket ever used (the scan's start: the bins below it are all zero).
    start: u8,
}

impl Default for HistMeta {
    fn default() -> Self {
        Self {
            total: 0.0,
            end: 0,
            start: u8::MAX,
        }
    }
}

/// Decayed histogram of nanosecond latencies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogHist {
    meta: HistMeta,
    bins: [f32; HIST_BUCKETS],
}

impl Default for LogHist {
    fn default() -> Self {
        Self {
            meta: HistMeta::default(),
            bins: [0.0; HIST_BUCKETS],
        }
    }
}

/// The bucket of a latency.
#[inline]
pub fn bucket_of(ns: u64) -> usize {
    if ns < (1 << MIN_OCTAVE) {
        return 0;
    }
    let oct = 63 - ns.leading_zeros(); // >= 8
    let sub = ((ns >> (oct - 2)) & 3) as usize;
    (1 + (oct - MIN_OCTAVE) as usize * 4 + sub).min(HIST_BUCKETS - 1)
}

/// The value a bucket reports: the middle of its range.
#[inline]
pub fn bucket_value(b: usize) -> u64 {
    if b == 0 {
        return 128;
    }
    let oct = MIN_OCTAVE + ((b - 1) / 4) as u32;
    let sub = ((b - 1) % 4) as u64;
    let lo = (4 + sub) << (oct - 2);
    let hi = (5 + sub) << (oct - 2);
    (lo + hi) / 2
}

impl LogHist {
    /// The totals.
    pub fn meta(&self) -> &HistMeta {
        &self.meta
    }
    /// The bins.
    pub fn bins(&self) -> &[f32; HIST_BUCKETS] {
        &self.bins
    }
    /// Adds a latency with weight `w`.
    #[inline]
    pub fn add(&mut self, ns: u64, w: f64) {
        self.meta.add(&mut self.bins, ns, w);
    }
    /// Multiplies every bin (the owning window's base moved).
    pub fn rescale(&mut self, f: f64) {
        self.meta.rescale(&mut self.bins, f);
    }
    /// The `q` quantiles (each in [0, 1], ascending) in one pass; `None` when empty.
    pub fn quantiles<const K: usize>(&self, qs: [f64; K]) -> Option<[u64; K]> {
        self.meta.quantiles(&self.bins, qs)
    }
}

impl HistMeta {
    /// From its parts: total, end (highest bucket used + 1), start (lowest bucket used).
    #[inline]
    pub fn from_parts(total: f64, end: u8, start: u8) -> Self {
        Self { total, end, start }
    }
    /// Its parts (see [`HistMeta::from_parts`]).
    #[inline]
    pub fn parts(&self) -> (f64, u8, u8) {
        (self.total, self.end, self.start)
    }
    /// Adds a latency with weight `w` to `bins`.
    #[inline]
    pub fn add(&mut self, bins: &mut [f32; HIST_BUCKETS], ns: u64, w: f64) {
        let b = bucket_of(ns);
        bins[b] += w as f32;
        self.total += f64::from(w as f32);
        self.end = self.end.max(b as u8 + 1);
        self.start = self.start.min(b as u8);
    }
    /// Multiplies every bin (the owning window's base moved).
    pub fn rescale(&mut self, bins: &mut [f32; HIST_BUCKETS], f: f64) {
        let g = f as f32;
        for b in bins.iter_mut() {
            *b *= g;
        }
        self.total *= f;
    }
    /// The `q` quantiles (each in [0, 1], ascending) of `bins` in one pass; `None` when empty.
    pub fn quantiles<const K: usize>(
        &self,
        bins: &[f32; HIST_BUCKETS],
        qs: [f64; K],
    ) -> Option<[u64; K]> {
        self.quantiles_by(|i| bins[i], qs)
    }
    /// As [`HistMeta::add`], to lane `lane` of interleaved bins.
    #[inline]
    pub fn add_lane(&mut self, bins: &mut Bins2, lane: usize, ns: u64, w: f64) {
        let b = bucket_of(ns);
        bins[b][lane] += w as f32;
        self.total += f64::from(w as f32);
        self.end = self.end.max(b as u8 + 1);
        self.start = self.start.min(b as u8);
    }
    /// As [`HistMeta::rescale`], lane `lane` of interleaved bins.
    pub fn rescale_lane(&mut self, bins: &mut Bins2, lane: usize, f: f64) {
        let g = f as f32;
        for b in bins.iter_mut() {
            b[lane] *= g;
        }
        self.total *= f;
    }
    /// As [`HistMeta::quantiles`], lane `lane` of interleaved bins.
    pub fn quantiles_lane<const K: usize>(
        &self,
        bins: &Bins2,
        lane: usize,
        qs: [f64; K],
    ) -> Option<[u64; K]> {
        self.quantiles_by(|i| bins[i][lane], qs)
    }
    #[inline]
    fn quantiles_by<const K: usize>(
        &self,
        bin: impl Fn(usize) -> f32,
        qs: [f64; K],
    ) -> Option<[u64; K]> {
        let total = self.total;
        // `total <= 0.0 || !total.is_finite()` (NaN included) on the bits: the positive finite
        // non-zero values are exactly those whose bits lie in 1..=f64::MAX's. (Written with
        // float compares, the test compiled to some thirty instructions of classification.)
        if total.to_bits().wrapping_sub(1) >= f64::MAX.to_bits() || self.end == 0 {
            return None;
        }
        let end = (self.end as usize).min(HIST_BUCKETS);
        let mut out = [0; K];
        // The thresholds `q * total`, computed once (the same products).
        let mut thr = [0.0; K];
        for (t, q) in thr.iter_mut().zip(&qs) {
            *t = q * total;
        }
        let mut cum = 0.0;
        let mut qi = 0;
        // The bins below `start` are zero: adding them leaves `cum` at +0.0, which reaches no
        // quantile above 0, so the scan may begin at `start` (unless a quantile <= 0 is asked).
        let first = if K > 0 && qs[0] > 0.0 {
            (self.start as usize).min(end)
        } else {
            0
        };
        // Quantile `qi` is the first bucket whose running sum reaches `thr[qi]`, those after it
        // the same bucket or later: one tight loop per quantile (one compare a bin) rather than
        // every quantile's test at every bin; the same sums in the same order.
        let mut i = first;
        'quantiles: while qi < K {
            let t = thr[qi];
            loop {
                if i >= end {
                    break 'quantiles;
                }
                cum += f64::from(bin(i));
                i += 1;
                if cum >= t {
                    break;
                }
            }
            let v = bucket_value(i - 1);
            out[qi] = v;
            qi += 1;
            while qi < K && cum >= thr[qi] {
                out[qi] = v;
                qi += 1;
            }
        }
        // A quantile the rounding residue leaves unreached reports the highest used bucket.
        for o in &mut out[qi..] {
            *o = bucket_value(end - 1);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotone_and_tight() {
        let mut last = 0;
        for ns in [
            0u64,
            255,
            256,
            300,
            1_000,
            15_000_000,
            40_000_000,
            1 << 39,
            u64::MAX,
        ] {
            let b = bucket_of(ns);
            assert!(b >= last);
            last = b;
            if (256..1 << 40).contains(&ns) {
                let v = bucket_value(b) as f64;
                assert!((v / ns as f64 - 1.0).abs() <= 0.125, "{ns} -> {v}");
            }
        }
        assert_eq!(bucket_of(u64::MAX), HIST_BUCKETS - 1);
    }

    #[test]
    fn quantiles_hand_computed() {
        // 98 samples at 15 ms and 2 at 40 ms: p50 reports the 15 ms bucket, p99 the 40 ms one.
        let mut h = LogHist::default();
        for _ in 0..98 {
            h.add(15_000_000, 1.0);
        }
        h.add(40_000_000, 1.0);
        h.add(40_000_000, 1.0);
        let [p50, p99] = h.quantiles([0.5, 0.99]).unwrap();
        // 15e6 lies in octave 23 (2^23 = 8388608), sub-bucket 3: [14680064, 16777216) -> 15728640
        assert_eq!(p50, 15_728_640);
        // 40e6 lies in octave 25, sub-bucket 0: [33554432, 41943040) -> 37748736
        assert_eq!(p99, 37_748_736);
        assert_eq!(LogHist::default().quantiles([0.5]), None);
    }

    #[test]
    fn unreached_quantiles_report_the_highest_used_bucket() {
        // Bins hold 1 + 1 but the total says 4 (a rounding residue, exaggerated): the scan
        // reaches q * 4 for q = 0.25 and 0.5 only; 0.9 and 0.99 report the highest used bucket.
        let mut bins = [0.0f32; HIST_BUCKETS];
        let (lo, hi) = (bucket_of(1_000), bucket_of(1_000_000));
        bins[lo] = 1.0;
        bins[hi] = 1.0;
        let m = HistMeta::from_parts(4.0, hi as u8 + 1, lo as u8);
        let q = m.quantiles(&bins, [0.25, 0.5, 0.9, 0.99]).unwrap();
        let (vlo, vhi) = (bucket_value(lo), bucket_value(hi));
        assert_eq!(q, [vlo, vhi, vhi, vhi]);
        // A quantile of 0 scans from bucket 0 and is met by the first bin (0 >= 0).
        assert_eq!(m.quantiles(&bins, [0.0]).unwrap(), [bucket_value(0)]);
    }

    /// The scan as it was written before (one loop over the bins, every quantile's test at
    /// every bin): the reference the per-quantile loops must equal.
    fn quantiles_reference<const K: usize>(
        m: &HistMeta,
        bins: &[f32; HIST_BUCKETS],
        qs: [f64; K],
    ) -> Option<[u64; K]> {
        let total = m.total;
        if total.to_bits().wrapping_sub(1) >= f64::MAX.to_bits() || m.end == 0 {
            return None;
        }
        let end = (m.end as usize).min(HIST_BUCKETS);
        let mut out = [0; K];
        let mut thr = [0.0; K];
        for (t, q) in thr.iter_mut().zip(&qs) {
            *t = q * total;
        }
        let mut cum = 0.0;
        let mut qi = 0;
        let first = if K > 0 && qs[0] > 0.0 {
            (m.start as usize).min(end)
        } else {
            0
        };
        for (i, b) in bins.iter().enumerate().take(end).skip(first) {
            cum += f64::from(*b);
            while qi < K && cum >= thr[qi] {
                out[qi] = bucket_value(i);
                qi += 1;
            }
            if qi == K {
                break;
            }
        }
        for o in &mut out[qi..] {
            *o = bucket_value(end - 1);
        }
        Some(out)
    }

    fn any_bin() -> impl proptest::strategy::Strategy<Value = f32> {
        use proptest::prelude::*;
        prop_oneof![
            8 => Just(0.0f32),
            8 => 0.0f32..1.0e3,
            1 => 1.0e-40f32..1.0e-30,
            1 => 1.0e36f32..3.0e38,
        ]
    }

    fn any_q() -> impl proptest::strategy::Strategy<Value = f64> {
        use proptest::prelude::*;
        prop_oneof![
            6 => 0.0f64..=1.0,
            1 => Just(0.5),
            1 => Just(0.99),
            1 => Just(0.0),
            1 => Just(1.0),
            1 => -1.0f64..2.0,
            1 => proptest::num::f64::ANY,
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The per-quantile scan gives the reference's buckets for any bins (zeros, tiny and
        /// huge values whose sums overflow, at times one of any value: NaN, negative), totals (the bins' sum, near it, far from it, any
        /// float), scan ranges and quantiles (ascending or not, 0, negative, NaN).
        #[test]
        fn scan_equals_the_reference(
            bins in proptest::collection::vec(any_bin(), HIST_BUCKETS),
            wild in proptest::option::weighted(0.2, (0..HIST_BUCKETS, proptest::num::f32::ANY)),
            start in 0u8..=255,
            end in 0u8..=129,
            scale in proptest::prop_oneof![
                proptest::prelude::Just(1.0f64),
                0.9f64..1.1,
                proptest::num::f64::ANY
            ],
            q2 in (any_q(), any_q()),
            q4 in (any_q(), any_q(), any_q(), any_q()),
        ) {
            let mut bins: [f32; HIST_BUCKETS] = bins.try_into().expect("length");
            if let Some((i, v)) = wild {
                bins[i] = v;
            }
            let sum: f64 = bins.iter().map(|b| f64::from(*b)).sum();
            let total = if scale == 1.0 { sum } else { sum * scale };
            let m = HistMeta::from_parts(total, end, start);
            let mut sorted2 = [q2.0, q2.1];
            sorted2.sort_by(f64::total_cmp);
            proptest::prop_assert_eq!(m.quantiles(&bins, [0.5, 0.99]), quantiles_reference(&m, &bins, [0.5, 0.99]));
            proptest::prop_assert_eq!(m.quantiles(&bins, [0.5]), quantiles_reference(&m, &bins, [0.5]));
            proptest::prop_assert_eq!(m.quantiles(&bins, [q2.0, q2.1]), quantiles_reference(&m, &bins, [q2.0, q2.1]));
            proptest::prop_assert_eq!(m.quantiles(&bins, sorted2), quantiles_reference(&m, &bins, sorted2));
            let q4 = [q4.0, q4.1, q4.2, q4.3];
            proptest::prop_assert_eq!(m.quantiles(&bins, q4), quantiles_reference(&m, &bins, q4));
            proptest::prop_assert_eq!(m.quantiles(&bins, []), quantiles_reference(&m, &bins, []));
        }
    }

    #[test]
    fn only_positive_finite_totals_have_quantiles() {
        // The bit test of `quantiles_by` against the float definition, at every edge.
        let mut bins = [0.0f32; HIST_BUCKETS];
        bins[3] = 1.0;
        let sub = f64::from_bits(1);
        for t in [
            0.0,
            -0.0,
            -1.0,
            sub,
            -sub,
            f64::MIN_POSITIVE,
            1.0,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::MIN,
        ] {
            let want = t > 0.0 && t.is_finite();
            let m = HistMeta::from_parts(t, 4, 3);
            assert_eq!(m.quantiles(&bins, [0.5]).is_some(), want, "total {t:e}");
            // An empty histogram (end 0) has none whatever its total.
            assert_eq!(HistMeta::from_parts(t, 0, 3).quantiles(&bins, [0.5]), None);
        }
    }
}
