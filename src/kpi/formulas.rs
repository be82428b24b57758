//! The per-fill and per-order formulas of `kpis.md`, as pure functions.
//!
//! Prices are fixed-point `i64` with scale 1e8 ([`PRICE_SCALE`]); results are `f64` basis points of
//! the arrival mid `m_a`. `s` is +1 for a buy and -1 for a sell. Every function here has a unit test
//! with a hand-computed value (below, and in `docs/kpis.md`).

/// Fixed-point scale of prices: 1.0 = 100_000_000.
pub const PRICE_SCALE: i64 = 100_000_000;

/// A price as fixed-point from a decimal literal, for tests and configuration (not the hot path).
pub fn px(p: f64) -> i64 {
    (p * PRICE_SCALE as f64).round() as i64
}

/// `v as f64`, through the (cheaper, equally rounded) `i64` conversion when `v` fits: both round
/// the same integer to the nearest double, so the result is bit-identical.
#[inline]
pub fn i128_to_f64(v: i128) -> f64 {
    match i64::try_from(v) {
        Ok(x) => x as f64,
        Err(_) => v as f64,
    }
}

/// Arrival NBBO of an order: bid, ask (fixed-point), and the side sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// +1 buy, -1 sell.
    pub side: i8,
    /// Best bid at arrival.
    pub bid: i64,
    /// Best ask at arrival.
    pub ask: i64,
}

impl Arrival {
    /// `2 * m_a` in fixed-point (kept doubled so it stays an exact integer).
    #[inline]
    fn two_mid(&self) -> i128 {
        i128::from(self.bid) + i128::from(self.ask)
    }
    /// `m_a` as f64 price units.
    #[inline]
    pub fn mid(&self) -> f64 {
        i128_to_f64(self.two_mid()) / 2.0 / PRICE_SCALE as f64
    }
    /// `x / m_a * 1e4` for a fixed-point difference `x`.
    #[inline]
    fn bps(&self, diff_fp: i128) -> f64 {
        // x / ((b + a) / 2) * 1e4 = x * 2e4 / (b + a)
        i128_to_f64(diff_fp) * 2.0e4 / i128_to_f64(self.two_mid())
    }
    /// [`Arrival::bps`] of `diff64` when it and `b + a` were computed in `i64` without
    /// overflow, else of `exact()`: the same integers, and `i64 as f64` rounds an integer
    /// exactly as `i128 as f64` does, so the same bits, without the 128-bit conversion routine
    /// (which [`i128_to_f64`]'s test on the value does not avoid: the compiler sees that both of
    /// its branches compute `v as f64` and keeps only that one).
    #[inline]
    fn bps_fast(&self, diff64: Option<i64>, exact: impl FnOnce() -> i128) -> f64 {
        match (diff64, self.bid.checked_add(self.ask)) {
            (Some(d), Some(tm)) => d as f64 * 2.0e4 / tm as f64,
            _ => self.bps(exact()),
        }
    }
    /// The side's sign as an `i64`.
    #[inline]
    fn s64(&self) -> i64 {
        i64::from(self.side.signum())
    }
    /// Whether the quote can anchor price KPIs: both sides positive and not crossed or locked.
    #[inline]
    pub fn is_valid(&self) -> bool {
        self.bid > 0 && self.ask > self.bid
    }
    /// The touch: the ask for a buy, the bid for a sell.
    #[inline]
    pub fn touch(&self) -> i64 {
        if self.side >= 0 { self.ask } else { self.bid }
    }

    /// Price improvement, bps: `s * (touch_a - p) / m_a * 1e4`.
    #[inline]
    pub fn price_improvement_bps(&self, p: i64) -> f64 {
        let d = self
            .touch()
            .checked_sub(p)
            .and_then(|x| x.checked_mul(self.s64()));
        self.bps_fast(d, || {
            let s = i128::from(self.side.signum());
            s * (i128::from(self.touch()) - i128::from(p))
        })
    }

    /// Effective spread, bps: `2 * s * (p - m_a) / m_a * 1e4`.
    #[inline]
    pub fn effective_spread_bps(&self, p: i64) -> f64 {
        // 2 * (p - m_a) = 2p - (b + a), exact in fixed-point
        let d = p
            .checked_mul(2)
            .and_then(|x| x.checked_sub(self.bid.checked_add(self.ask)?))
            .and_then(|x| x.checked_mul(self.s64()));
        self.bps_fast(d, || {
            let s = i128::from(self.side.signum());
            s * (2 * i128::from(p) - self.two_mid())
        })
    }

    /// Quoted spread, bps: `q_a / m_a * 1e4`.
    #[inline]
    pub fn quoted_spread_bps(&self) -> f64 {
        let d = self.ask.checked_sub(self.bid);
        self.bps_fast(d, || i128::from(self.ask) - i128::from(self.bid))
    }

    /// Realized spread at a horizon, bps: `2 * s * (p - m(t + tau)) / m_a * 1e4`; `two_mid_later`
    /// is `2 * m(t + tau)` (bid + ask) in fixed-point.
    #[inline]
    pub fn realized_spread_bps(&self, p: i64, two_mid_later: i128) -> f64 {
        let d = p
            .checked_mul(2)
            .and_then(|x| x.checked_sub(i64::try_from(two_mid_later).ok()?))
            .and_then(|x| x.checked_mul(self.s64()));
        self.bps_fast(d, || {
            let s = i128::from(self.side.signum());
            s * (2 * i128::from(p) - two_mid_later)
        })
    }

    /// Markout at a horizon (the taker's P&L), bps: `s * (m(t + tau) - p) / m_a * 1e4`.
    #[inline]
    pub fn markout_bps(&self, p: i64, two_mid_later: i128) -> f64 {
        let d = i64::try_from(two_mid_later)
            .ok()
            .and_then(|l| l.checked_sub(p.checked_mul(2)?))
            .and_then(|x| x.checked_mul(self.s64()));
        self.bps_fast(d, || {
            let s = i128::from(self.side.signum());
            s * (two_mid_later - 2 * i128::from(p))
        }) / 2.0
    }

    /// Market impact at a horizon, bps: `s * (m(t + tau) - m_a) / m_a * 1e4`.
    #[inline]
    pub fn impact_bps(&self, two_mid_later: i128) -> f64 {
        let d = i64::try_from(two_mid_later)
            .ok()
            .and_then(|l| l.checked_sub(self.bid.checked_add(self.ask)?))
            .and_then(|x| x.checked_mul(self.s64()));
        self.bps_fast(d, || {
            let s = i128::from(self.side.signum());
            s * (two_mid_later - self.two_mid())
        }) / 2.0
    }
}

/// Where a fill stands against the arrival quote, for the PI-rate split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteRelation {
    /// Better than the touch (PI > 0).
    Improved,
    /// At the touch (PI = 0).
    AtQuote,
    /// Worse than the touch (PI < 0).
    Outside,
}

/// Classifies a fill by the exact fixed-point comparison (no floating-point ties).
#[inline]
pub fn quote_relation(a: &Arrival, p: i64) -> QuoteRelation {
    let d = i128::from(a.side.signum()) * (i128::from(a.touch()) - i128::from(p));
    match d.cmp(&0) {
        core::cmp::Ordering::Greater => QuoteRelation::Improved,
        core::cmp::Ordering::Equal => QuoteRelation::AtQuote,
        core::cmp::Ordering::Less => QuoteRelation::Outside,
    }
}

/// E/Q as a ratio of sums: `sum(x * ES) / sum(x * q_bps)`; `None` when the denominator is 0.
pub fn eq_ratio(sum_x_es: f64, sum_x_q: f64) -> Option<f64> {
    (sum_x_q > 0.0).then(|| sum_x_es / sum_x_q)
}

/// Fill rate (shares): filled / sent; `None` with nothing sent.
pub fn fill_rate(filled: f64, sent: f64) -> Option<f64> {
    (sent > 0.0).then(|| filled / sent)
}

/// Time-to-execution bucket upper edges (ns): <100us, 100us-1ms, 1-10ms, 10-100ms, 100ms-1s,
/// 1-10s, 10-30s, 30s-5min, >=5min.
pub const TTE_EDGES_NS: [u64; 8] = [
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    30_000_000_000,
    300_000_000_000,
];
/// Number of time-to-execution buckets.
pub const TTE_BUCKETS: usize = 9;

/// The time-to-execution bucket of a fill `dt_ns` after arrival.
#[inline]
pub fn tte_bucket(dt_ns: u64) -> usize {
    TTE_EDGES_NS.iter().position(|&e| dt_ns < e).unwrap_or(8)
}

/// Rule 605 (2024) default size-bucket upper edges, order notional in whole USD.
pub const RULE605_EDGES_USD: [u64; 7] = [250, 1_000, 5_000, 10_000, 20_000, 50_000, 200_000];

/// How orders are bucketed by size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeBuckets {
    /// `true`: by shares; `false`: by notional `qty * m_a` in whole currency units.
    pub by_shares: bool,
    /// Upper edges (exclusive) of all buckets but the last; at most 7 (8 buckets).
    pub edges: Vec<u64>,
}

impl Default for SizeBuckets {
    fn default() -> Self {
        Self {
            by_shares: false,
            edges: RULE605_EDGES_USD.to_vec(),
        }
    }
}

impl SizeBuckets {
    /// Number of buckets (edges + 1).
    pub fn len(&self) -> usize {
        self.edges.len() + 1
    }
    /// Never empty (there is always the last, open-ended bucket).
    pub fn is_empty(&self) -> bool {
        false
    }
    /// The bucket of an order of `qty` with reference price `price_fp` (fixed-point; the arrival
    /// mid, else the limit). `None` when bucketing by notional and no price is known.
    #[inline]
    pub fn bucket(&self, qty: u64, price_fp: Option<i64>) -> Option<u8> {
        let v = if self.by_shares {
            qty
        } else {
            let p = price_fp.filter(|p| *p > 0)?;
            let n = (u128::from(qty) * p as u128) / PRICE_SCALE as u128;
            u64::try_from(n).unwrap_or(u64::MAX)
        };
        Some(
            self.edges
                .iter()
                .position(|&e| v < e)
                .unwrap_or(self.edges.len()) as u8,
        )
    }
    /// Upper bounds as the scoreboard header stores them (last = `u64::MAX`).
    pub fn uppers(&self) -> [u64; 8] {
        let mut u = [0u64; 8];
        for (i, e) in self.edges.iter().enumerate().take(7) {
            u[i] = *e;
        }
        u[self.edges.len().min(7)] = u64::MAX;
        u
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9 * b.abs().max(1.0), "{a} != {b}");
    }

    fn buy(bid: f64, ask: f64) -> Arrival {
        Arrival {
            side: 1,
            bid: px(bid),
            ask: px(ask),
        }
    }
    fn sell(bid: f64, ask: f64) -> Arrival {
        Arrival {
            side: -1,
            ..buy(bid, ask)
        }
    }

    // The seed article's sample fills. Sides are not in the article; we state them: rows 1-3 are
    // buys, row 4 is a sell.
    #[test]
    fn seed_row1_lp_a_buy_1000_at_100_01() {
        // Buy 1000 @ 100.01 against 100.00 / 100.02: m_a = 100.01.
        let a = buy(100.00, 100.02);
        // PI = (100.02 - 100.01) / 100.01 * 1e4 = 0.999900009999 bps
        close(a.price_improvement_bps(px(100.01)), 0.999_900_009_999_000_1);
        // ES = 2 * (100.01 - 100.01) / 100.01 * 1e4 = 0
        close(a.effective_spread_bps(px(100.01)), 0.0);
        // q = 0.02 / 100.01 * 1e4 = 1.99980002 bps
        close(a.quoted_spread_bps(), 1.999_800_019_998_000_2);
        assert_eq!(quote_relation(&a, px(100.01)), QuoteRelation::Improved);
    }

    #[test]
    fn seed_row2_lp_b_buy_200_of_500_at_100_03() {
        // Buy, 200 filled of 500, @ 100.03 against 100.01 / 100.03: m_a = 100.02, at the ask.
        let a = buy(100.01, 100.03);
        close(a.price_improvement_bps(px(100.03)), 0.0);
        // ES = 2 * 0.01 / 100.02 * 1e4 = 1.99960008 bps; q = 0.02 / 100.02 * 1e4, so E/Q = 1.
        close(a.effective_spread_bps(px(100.03)), 1.999_600_079_984_003_2);
        close(
            eq_ratio(
                200.0 * a.effective_spread_bps(px(100.03)),
                200.0 * a.quoted_spread_bps(),
            )
            .unwrap(),
            1.0,
        );
        assert_eq!(quote_relation(&a, px(100.03)), QuoteRelation::AtQuote);
        close(fill_rate(200.0, 500.0).unwrap(), 0.4);
    }

    #[test]
    fn seed_row3_lp_c_buy_2000_at_100_00() {
        // Buy 2000 @ 100.00 (at the bid!) against 100.00 / 100.02: m_a = 100.01.
        let a = buy(100.00, 100.02);
        // PI = 0.02 / 100.01 * 1e4 = 1.99980002 bps; ES = 2 * (-0.01) / 100.01 * 1e4 = -1.99980002
        close(a.price_improvement_bps(px(100.00)), 1.999_800_019_998_000_2);
        close(a.effective_spread_bps(px(100.00)), -1.999_800_019_998_000_2);
    }

    #[test]
    fn seed_row4_lp_a_sell_5000_at_50_24() {
        // Sell 5000 @ 50.24 against 50.24 / 50.26: m_a = 50.25; at the bid.
        let a = sell(50.24, 50.26);
        close(a.price_improvement_bps(px(50.24)), 0.0);
        // ES = 2 * (-1) * (50.24 - 50.25) / 50.25 * 1e4 = 3.98009950 bps
        close(a.effective_spread_bps(px(50.24)), 3.980_099_502_487_562);
        // A sell at 50.23 is outside the quote: PI = -(50.24 - 50.23) / 50.25 * 1e4 = -1.99004975
        close(a.price_improvement_bps(px(50.23)), -1.990_049_751_243_781);
        assert_eq!(quote_relation(&a, px(50.23)), QuoteRelation::Outside);
        // The same sell at 50.25 (the mid) improves by 1.99004975 bps.
        close(a.price_improvement_bps(px(50.25)), 1.990_049_751_243_781);
    }

    #[test]
    fn eq_is_a_ratio_of_sums() {
        // Seed rows 1 and 2: sum(x * ES) = 1000 * 0 + 200 * 1.99960008 = 399.920016;
        // sum(x * q) = 1000 * 1.99980002 + 200 * 1.99960008 = 2399.720036; E/Q = 0.16665278.
        let r1 = buy(100.00, 100.02);
        let r2 = buy(100.01, 100.03);
        let num = 1000.0 * r1.effective_spread_bps(px(100.01))
            + 200.0 * r2.effective_spread_bps(px(100.03));
        let den = 1000.0 * r1.quoted_spread_bps() + 200.0 * r2.quoted_spread_bps();
        close(num, 399.920_015_996_800_6);
        close(den, 2_399.720_035_994_800_6);
        close(eq_ratio(num, den).unwrap(), 0.166_652_780_323_607_4);
        assert_eq!(eq_ratio(1.0, 0.0), None);
    }

    #[test]
    fn markout_impact_realized() {
        // Buy 1000 @ 100.01, arrival 100.00 / 100.02 (m_a 100.01); one second later the mid is
        // 100.02 (100.01 / 100.03).
        let a = buy(100.00, 100.02);
        let later = i128::from(px(100.01)) + i128::from(px(100.03));
        // RS = 2 * (100.01 - 100.02) / 100.01 * 1e4 = -1.99980002
        close(
            a.realized_spread_bps(px(100.01), later),
            -1.999_800_019_998_000_2,
        );
        // MO = (100.02 - 100.01) / 100.01 * 1e4 = 0.99990001
        close(a.markout_bps(px(100.01), later), 0.999_900_009_999_000_1);
        // IM = (100.02 - 100.01) / 100.01 * 1e4 = 0.99990001 = (ES - RS) / 2
        let im = a.impact_bps(later);
        close(im, 0.999_900_009_999_000_1);
        close(
            im,
            (a.effective_spread_bps(px(100.01)) - a.realized_spread_bps(px(100.01), later)) / 2.0,
        );
        // A sell at 50.24 (m_a 50.25) followed by a mid of 50.20: the price moved the way the
        // seller pushed it, IM = -(50.20 - 50.25) / 50.25 * 1e4 = +9.95024876 bps; the seller's
        // markout is MO = -(50.20 - 50.24) / 50.25 * 1e4 = +7.96019900 bps.
        let s = sell(50.24, 50.26);
        let later = i128::from(px(50.19)) + i128::from(px(50.21));
        close(s.impact_bps(later), 9.950_248_756_218_906);
        close(s.markout_bps(px(50.24), later), 7.960_199_004_975_124);
    }

    #[test]
    fn validity_and_relation() {
        assert!(buy(100.0, 100.02).is_valid());
        assert!(!buy(100.02, 100.02).is_valid()); // locked
        assert!(!buy(100.03, 100.02).is_valid()); // crossed
        assert!(!buy(0.0, 100.02).is_valid());
    }

    #[test]
    fn tte_buckets() {
        assert_eq!(tte_bucket(0), 0);
        assert_eq!(tte_bucket(99_999), 0);
        assert_eq!(tte_bucket(100_000), 1);
        assert_eq!(tte_bucket(15_000_000), 3); // the seed's 15 ms fill
        assert_eq!(tte_bucket(40_000_000), 3);
        assert_eq!(tte_bucket(999_999_999), 4);
        assert_eq!(tte_bucket(29_000_000_000), 6);
        assert_eq!(tte_bucket(299_999_999_999), 7);
        assert_eq!(tte_bucket(300_000_000_000), 8);
    }

    #[test]
    fn size_buckets_rule605() {
        let b = SizeBuckets::default();
        assert_eq!(b.len(), 8);
        // Seed rows: 1000 * 100.01 = 100,010 USD -> 50k-200k (6); 500 * 100.02 = 50,010 -> 6;
        // 2000 * 100.01 = 200,020 -> >=200k (7); 5000 * 50.25 = 251,250 -> 7.
        assert_eq!(b.bucket(1000, Some(px(100.01))), Some(6));
        assert_eq!(b.bucket(500, Some(px(100.02))), Some(6));
        assert_eq!(b.bucket(2000, Some(px(100.01))), Some(7));
        assert_eq!(b.bucket(5000, Some(px(50.25))), Some(7));
        assert_eq!(b.bucket(2, Some(px(100.0))), Some(0)); // 200 < 250
        assert_eq!(b.bucket(10, Some(px(25.0))), Some(1)); // 250 -> 250-1k
        assert_eq!(b.bucket(10, None), None);
        let u = b.uppers();
        assert_eq!(u[0], 250);
        assert_eq!(u[6], 200_000);
        assert_eq!(u[7], u64::MAX);
        let s = SizeBuckets {
            by_shares: true,
            edges: vec![100, 1000],
        };
        assert_eq!(s.bucket(99, None), Some(0));
        assert_eq!(s.bucket(1000, None), Some(2));
        assert_eq!(s.uppers()[2], u64::MAX);
    }

    /// The formulas with every integer in `i128` and converted by `as f64` (the definition).
    fn reference(a: &Arrival, p: i64, later: i128) -> [f64; 6] {
        let s = i128::from(a.side.signum());
        let (b, k, p) = (i128::from(a.bid), i128::from(a.ask), i128::from(p));
        let bps = |x: i128| x as f64 * 2.0e4 / (b + k) as f64;
        let touch = if a.side >= 0 { k } else { b };
        [
            bps(s * (touch - p)),
            bps(s * (2 * p - (b + k))),
            bps(k - b),
            bps(s * (2 * p - later)),
            bps(s * (later - 2 * p)) / 2.0,
            bps(s * (later - (b + k))) / 2.0,
        ]
    }

    fn formulas(a: &Arrival, p: i64, later: i128) -> [f64; 6] {
        [
            a.price_improvement_bps(p),
            a.effective_spread_bps(p),
            a.quoted_spread_bps(),
            a.realized_spread_bps(p, later),
            a.markout_bps(p, later),
            a.impact_bps(later),
        ]
    }

    fn any_px() -> impl proptest::strategy::Strategy<Value = i64> {
        use proptest::prelude::*;
        prop_oneof![
            1i64..1_000_000_000_000,
            Just(i64::MAX),
            Just(i64::MIN),
            Just(0i64),
            (i64::MAX / 2 - 1000)..=i64::MAX,
            i64::MIN..=(i64::MIN + 1000),
            any::<i64>(),
        ]
    }

    proptest::proptest! {
        // The i64 fast path (taken when nothing overflows) and the i128 fallback give the
        // definition's bits, at ordinary prices and at the edges of i64.
        #[test]
        fn formulas_match_the_i128_definition(
            side in proptest::prelude::prop_oneof![
                proptest::prelude::Just(1i8),
                proptest::prelude::Just(-1i8),
                proptest::prelude::Just(0i8)
            ],
            bid in any_px(),
            ask in any_px(),
            p in any_px(),
            later in any_px(),
        ) {
            let a = Arrival { side, bid, ask };
            let later = i128::from(later);
            let got = formulas(&a, p, later);
            let want = reference(&a, p, later);
            for (g, w) in got.iter().zip(&want) {
                proptest::prop_assert_eq!(g.to_bits(), w.to_bits(), "{:?} p={} later={}", a, p, later);
            }
        }
    }
}
