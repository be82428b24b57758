//! One statistics cell (LP x symbol x size bucket, or one of the aggregates): decayed sums in a
//! fast and a slow window, two decayed latency histograms, raw counts; and the estimator that turns
//! a cell into KPI values (Beta / shrinkage priors from the pool, fast shrunk toward slow).
use super::decay::{Stamp, Window};
use super::formulas::TTE_BUCKETS;
use super::hist::LogHist;
use super::markout::MAX_HORIZONS;

/// Indices of the decayed sums in a [`Window`].
pub mod ix {
    /// Orders that reached a terminal state (weighted at arrival time).
    pub const ORDERS: usize = 0;
    /// Of which rejected.
    pub const REJECTS: usize = 1;
    /// Shares sent (terminal orders).
    pub const QTY_SENT: usize = 2;
    /// Shares filled (terminal orders, late fills included, busts subtracted).
    pub const QTY_FILLED: usize = 3;
    /// Cancel and cancel/replace requests sent.
    pub const CXL_REQ: usize = 4;
    /// OrderCancelRejects.
    pub const CXL_REJ: usize = 5;
    /// Ack latency observations.
    pub const ACK_N: usize = 6;
    /// Sum of ack latencies, ns.
    pub const ACK_SUM: usize = 7;
    /// Fill latency observations.
    pub const FLAT_N: usize = 8;
    /// Sum of fill latencies, ns.
    pub const FLAT_SUM: usize = 9;
    /// Fills.
    pub const FILLS: usize = 10;
    /// Fills with a usable arrival quote.
    pub const PX_N: usize = 11;
    /// Their shares.
    pub const PX_QTY: usize = 12;
    /// Sum x * PI (bps).
    pub const PI: usize = 13;
    /// Sum x * ES (bps).
    pub const ES: usize = 14;
    /// Sum x * quoted spread (bps).
    pub const QS: usize = 15;
    /// Shares with PI > 0.
    pub const PI_POS: usize = 16;
    /// Shares at the quote.
    pub const PI_ZERO: usize = 17;
    /// Shares outside the quote.
    pub const PI_NEG: usize = 18;
    /// Executed shares per time-to-execution bucket (9).
    pub const TTE: usize = 19;
    /// Per horizon h: resolved shares at `MO + 4h`, sum x*MO at `MO + 4h + 1`, x*IM at `+ 2`,
    /// x*RS at `+ 3`.
    pub const MO: usize = TTE + super::TTE_BUCKETS;
    /// Number of sums.
    pub const N: usize = MO + 4 * super::MAX_HORIZONS;
}

/// The base exponent of one window (the sums themselves live interleaved in [`Cell::sums`]).
pub type Sums = Window<0>;

/// One statistics cell.
///
/// The fast and slow sums are interleaved (`sums[i] = [fast, slow]`) so an observation touches
/// one cache line for both windows, and the sums an event updates together sit side by side.
#[derive(Debug, Clone)]
pub struct Cell {
    /// `sums[i][0]` fast window (minutes), `sums[i][1]` slow window (days), forward-weighted.
    pub sums: [[f64; 2]; ix::N],
    /// Fast window's base exponent.
    pub fast: Sums,
    /// Slow window's base exponent.
    pub slow: Sums,
    /// Ack latency histogram (fast window's weights).
    pub ack_hist: LogHist,
    /// Fill latency histogram (fast window's weights).
    pub fill_hist: LogHist,
    /// Terminal orders counted (raw, saturating at u32::MAX when published).
    pub n_orders: u64,
    /// Fills (raw; busts subtract).
    pub n_fills: u64,
    /// Fills whose price KPIs were skipped (no usable arrival quote).
    pub n_price_skipped: u64,
    /// Event time of the last change.
    pub last_change: u64,
    /// Queued for publication.
    pub dirty: bool,
}

impl Default for Cell {
    fn default() -> Self {
        Self {
            sums: [[0.0; 2]; ix::N],
            fast: Sums::default(),
            slow: Sums::default(),
            ack_hist: LogHist::default(),
            fill_hist: LogHist::default(),
            n_orders: 0,
            n_fills: 0,
            n_price_skipped: 0,
            last_change: 0,
            dirty: false,
        }
    }
}

/// The stamps of one observation time in both windows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stamps {
    /// Fast window.
    pub fast: Stamp,
    /// Slow window.
    pub slow: Stamp,
}

impl Cell {
    /// Makes room for an observation at `st` (moves the bases, rescaling the sums and the
    /// histograms by exact powers of two).
    #[inline]
    pub fn prepare(&mut self, st: Stamps) {
        if let Some(f) = self.fast.prepare(st.fast) {
            for v in &mut self.sums {
                v[0] *= f;
            }
            self.ack_hist.rescale(f);
            self.fill_hist.rescale(f);
        }
        if let Some(f) = self.slow.prepare(st.slow) {
            for v in &mut self.sums {
                v[1] *= f;
            }
        }
    }
    /// Adds `x` to sum `i` in both windows, observed at `st`.
    #[inline]
    pub fn add(&mut self, i: usize, st: Stamps, x: f64) {
        let s = &mut self.sums[i];
        s[0] += x * self.fast.weight(st.fast);
        s[1] += x * self.slow.weight(st.slow);
    }
    /// The slow window's forward-weighted sum `i`.
    #[inline]
    pub fn slow_sum(&self, i: usize) -> f64 {
        self.sums[i][1]
    }
    /// Adds latency observation `ns` at `st` to the ack (`fill == false`) or fill histogram and sums.
    #[inline]
    pub fn add_latency(&mut self, fill: bool, ns: u64, st: Stamps) {
        let w = self.fast.weight(st.fast);
        if fill {
            self.fill_hist.add(ns, w);
            self.add(ix::FLAT_N, st, 1.0);
            self.add(ix::FLAT_SUM, st, ns as f64);
        } else {
            self.ack_hist.add(ns, w);
            self.add(ix::ACK_N, st, 1.0);
            self.add(ix::ACK_SUM, st, ns as f64);
        }
    }
}

/// Pool-level prior means (empirical Bayes), one per KPI.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Priors {
    /// Fill rate (shares).
    pub fill_rate: f64,
    /// Reject rate.
    pub reject_rate: f64,
    /// Cancel-reject rate.
    pub cancel_reject_rate: f64,
    /// Share fraction improved / at the quote / outside.
    pub pi_rate: f64,
    /// At-quote share fraction.
    pub at_quote_rate: f64,
    /// Outside-quote share fraction.
    pub outside_rate: f64,
    /// Mean ack latency, ns.
    pub ack_ns: f64,
    /// Mean fill latency, ns.
    pub fill_latency_ns: f64,
    /// PI, bps.
    pub pi_bps: f64,
    /// ES, bps.
    pub es_bps: f64,
    /// Quoted spread, bps.
    pub qs_bps: f64,
    /// Markout per horizon, bps.
    pub markout_bps: [f64; MAX_HORIZONS],
    /// Impact per horizon, bps.
    pub impact_bps: [f64; MAX_HORIZONS],
    /// Realized spread per horizon, bps.
    pub rs_bps: [f64; MAX_HORIZONS],
}

impl Default for Priors {
    /// Used until the pool has data: a middling LP.
    fn default() -> Self {
        Self {
            fill_rate: 0.8,
            reject_rate: 0.05,
            cancel_reject_rate: 0.05,
            pi_rate: 0.3,
            at_quote_rate: 0.5,
            outside_rate: 0.2,
            ack_ns: 10_000_000.0,
            fill_latency_ns: 10_000_000.0,
            pi_bps: 0.0,
            es_bps: 1.0,
            qs_bps: 2.0,
            markout_bps: [0.0; MAX_HORIZONS],
            impact_bps: [0.0; MAX_HORIZONS],
            rs_bps: [1.0; MAX_HORIZONS],
        }
    }
}

/// How estimates are formed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EstimatorParams {
    /// Strength of the pool prior on the slow estimate, in observations (orders or fills).
    pub prior_strength: f64,
    /// Strength of the slow estimate on the fast one, in observations.
    pub fast_shrink: f64,
    /// Horizon index used by the row's impact / markout / realized spread.
    pub score_horizon: usize,
    /// Number of configured horizons (estimates for the others stay 0).
    pub n_horizons: usize,
}

/// The KPI values of one cell at one time.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Estimates {
    /// Fill rate (shares), [0, 1].
    pub fill_rate: f64,
    /// Reject rate, [0, 1].
    pub reject_rate: f64,
    /// Cancel-reject rate, [0, 1].
    pub cancel_reject_rate: f64,
    /// Share fraction with PI > 0.
    pub pi_rate: f64,
    /// Share fraction at the quote.
    pub at_quote_rate: f64,
    /// Share fraction outside the quote.
    pub outside_rate: f64,
    /// Mean ack latency, ns.
    pub ack_mean_ns: f64,
    /// Mean fill latency, ns.
    pub fill_latency_mean_ns: f64,
    /// Ack latency p50 / p99 (fast histogram), ns; 0 when none.
    pub ack_p50_ns: u64,
    /// See `ack_p50_ns`.
    pub ack_p99_ns: u64,
    /// Fill latency p50, ns.
    pub fill_p50_ns: u64,
    /// PI, bps.
    pub pi_bps: f64,
    /// ES, bps.
    pub es_bps: f64,
    /// Quoted spread at arrival, bps.
    pub qs_bps: f64,
    /// E/Q.
    pub eq_ratio: f64,
    /// Markout at each horizon, bps.
    pub markout_bps: [f64; MAX_HORIZONS],
    /// Impact at each horizon, bps.
    pub impact_bps: [f64; MAX_HORIZONS],
    /// Realized spread at each horizon, bps.
    pub rs_bps: [f64; MAX_HORIZONS],
    /// Share of executed shares per time-to-execution bucket (slow window).
    pub tte_share: [f64; TTE_BUCKETS],
    /// Effective number of terminal orders behind the estimate (slow window).
    pub eff_orders: f64,
    /// Effective number of fills (slow window).
    pub eff_fills: f64,
    /// Effective number of terminal orders in the fast window.
    pub eff_orders_fast: f64,
    /// Any order or fill seen.
    pub has_data: bool,
    /// No fill with a usable arrival quote (price KPIs are the prior).
    pub price_unavailable: bool,
}

/// Absolute (decayed-to-now) view of a window.
#[derive(Clone, Copy)]
struct Abs<'a> {
    s: &'a [[f64; 2]; ix::N],
    side: usize,
    k: f64,
}

impl Abs<'_> {
    #[inline]
    fn get(&self, i: usize) -> f64 {
        self.s[i][self.side] * self.k
    }
}

/// `(num + m * unit * prior) / (den + m * unit)`: a Beta posterior mean for rates (num = successes,
/// den = trials) and a shrinkage estimator for means; `unit` converts the prior strength from
/// observations to the denominator's unit (shares for share-weighted figures).
#[inline]
pub fn shrink(num: f64, den: f64, unit: f64, prior: f64, m: f64) -> f64 {
    let mu = m * unit;
    if den + mu <= 0.0 {
        return prior;
    }
    (num + mu * prior) / (den + mu)
}

#[inline]
fn unit_of(den: f64, n: f64, fallback: f64) -> f64 {
    if n > 1e-12 && den > 0.0 {
        den / n
    } else {
        fallback
    }
}

impl Cell {
    /// The estimates at `now`, with the pool's `priors`.
    pub fn estimate(&self, now: Stamps, priors: &Priors, p: &EstimatorParams) -> Estimates {
        self.estimate_scope(now, priors, p, true)
    }

    /// Only what a scoreboard row shows (the score horizon's markouts; no time-to-execution
    /// shares, no at-quote/outside split, no mean fill latency): the publication path.
    pub fn estimate_row(&self, now: Stamps, priors: &Priors, p: &EstimatorParams) -> Estimates {
        self.estimate_scope(now, priors, p, false)
    }

    fn estimate_scope(
        &self,
        now: Stamps,
        priors: &Priors,
        p: &EstimatorParams,
        full: bool,
    ) -> Estimates {
        let f = Abs {
            s: &self.sums,
            side: 0,
            k: self.fast.scale(now.fast),
        };
        let s = Abs {
            s: &self.sums,
            side: 1,
            k: self.slow.scale(now.slow),
        };
        // One helper for every figure: slow shrunk to the pool prior, fast shrunk to the slow.
        let est = |num: usize, den: usize, cnt: usize, prior: f64| -> f64 {
            let unit_s = unit_of(s.get(den), s.get(cnt), 1.0);
            let slow = shrink(s.get(num), s.get(den), unit_s, prior, p.prior_strength);
            let unit_f = unit_of(f.get(den), f.get(cnt), unit_s);
            shrink(f.get(num), f.get(den), unit_f, slow, p.fast_shrink)
        };
        let mut e = Estimates {
            fill_rate: est(ix::QTY_FILLED, ix::QTY_SENT, ix::ORDERS, priors.fill_rate),
            reject_rate: est(ix::REJECTS, ix::ORDERS, ix::ORDERS, priors.reject_rate),
            cancel_reject_rate: est(
                ix::CXL_REJ,
                ix::CXL_REQ,
                ix::CXL_REQ,
                priors.cancel_reject_rate,
            ),
            pi_rate: est(ix::PI_POS, ix::PX_QTY, ix::PX_N, priors.pi_rate),
            ack_mean_ns: est(ix::ACK_SUM, ix::ACK_N, ix::ACK_N, priors.ack_ns),
            pi_bps: est(ix::PI, ix::PX_QTY, ix::PX_N, priors.pi_bps),
            es_bps: est(ix::ES, ix::PX_QTY, ix::PX_N, priors.es_bps),
            qs_bps: est(ix::QS, ix::PX_QTY, ix::PX_N, priors.qs_bps),
            ..Default::default()
        };
        if full {
            e.at_quote_rate = est(ix::PI_ZERO, ix::PX_QTY, ix::PX_N, priors.at_quote_rate);
            e.outside_rate = est(ix::PI_NEG, ix::PX_QTY, ix::PX_N, priors.outside_rate);
            e.fill_latency_mean_ns =
                est(ix::FLAT_SUM, ix::FLAT_N, ix::FLAT_N, priors.fill_latency_ns);
        }
        for h in 0..p.n_horizons.min(MAX_HORIZONS) {
            if !full && h != p.score_horizon {
                continue;
            }
            let q = ix::MO + 4 * h;
            e.markout_bps[h] = est(q + 1, q, ix::PX_N, priors.markout_bps[h]);
            e.impact_bps[h] = est(q + 2, q, ix::PX_N, priors.impact_bps[h]);
            e.rs_bps[h] = est(q + 3, q, ix::PX_N, priors.rs_bps[h]);
        }
        e.eq_ratio = if e.qs_bps.abs() > 1e-12 {
            e.es_bps / e.qs_bps
        } else {
            0.0
        };
        let tte_total: f64 = if full {
            (0..TTE_BUCKETS).map(|b| s.get(ix::TTE + b)).sum()
        } else {
            0.0
        };
        if tte_total > 0.0 {
            for b in 0..TTE_BUCKETS {
                e.tte_share[b] = (s.get(ix::TTE + b) / tte_total).clamp(0.0, 1.0);
            }
        }
        if let Some([p50, p99]) = self.ack_hist.quantiles([0.5, 0.99]) {
            e.ack_p50_ns = p50;
            e.ack_p99_ns = p99;
        }
        if let Some([p50]) = self.fill_hist.quantiles([0.5]) {
            e.fill_p50_ns = p50;
        }
        e.eff_orders = s.get(ix::ORDERS).max(0.0);
        e.eff_fills = s.get(ix::FILLS).max(0.0);
        e.eff_orders_fast = f.get(ix::ORDERS).max(0.0);
        e.has_data = self.n_orders > 0 || self.n_fills > 0 || self.slow_sum(ix::ACK_N) > 0.0;
        e.price_unavailable = self.slow_sum(ix::PX_QTY) <= 0.0;
        // Rates are probabilities: clamp the rounding residue of reversals.
        for r in [
            &mut e.fill_rate,
            &mut e.reject_rate,
            &mut e.cancel_reject_rate,
            &mut e.pi_rate,
            &mut e.at_quote_rate,
            &mut e.outside_rate,
        ] {
            *r = if r.is_finite() {
                r.clamp(0.0, 1.0)
            } else {
                0.0
            };
        }
        e
    }
}

/// Accumulates the pool's slow sums (from the LP x all-symbols cells) into prior means.
#[derive(Debug, Clone, Copy)]
pub struct PoolAccumulator {
    s: [f64; ix::N],
}

impl Default for PoolAccumulator {
    fn default() -> Self {
        Self { s: [0.0; ix::N] }
    }
}

impl PoolAccumulator {
    /// Adds one LP's cell (its slow window, decayed to `now`).
    pub fn add(&mut self, c: &Cell, now: Stamps) {
        let k = c.slow.scale(now.slow);
        for (a, v) in self.s.iter_mut().zip(c.sums.iter()) {
            *a += v[1] * k;
        }
    }
    /// Ratio-of-sums prior means; a figure with no data keeps `fallback`'s value.
    pub fn priors(&self, fallback: &Priors) -> Priors {
        let r = |num: usize, den: usize, fb: f64| {
            if self.s[den] > 1e-9 {
                self.s[num] / self.s[den]
            } else {
                fb
            }
        };
        let mut p = Priors {
            fill_rate: r(ix::QTY_FILLED, ix::QTY_SENT, fallback.fill_rate).clamp(0.0, 1.0),
            reject_rate: r(ix::REJECTS, ix::ORDERS, fallback.reject_rate).clamp(0.0, 1.0),
            cancel_reject_rate: r(ix::CXL_REJ, ix::CXL_REQ, fallback.cancel_reject_rate)
                .clamp(0.0, 1.0),
            pi_rate: r(ix::PI_POS, ix::PX_QTY, fallback.pi_rate).clamp(0.0, 1.0),
            at_quote_rate: r(ix::PI_ZERO, ix::PX_QTY, fallback.at_quote_rate).clamp(0.0, 1.0),
            outside_rate: r(ix::PI_NEG, ix::PX_QTY, fallback.outside_rate).clamp(0.0, 1.0),
            ack_ns: r(ix::ACK_SUM, ix::ACK_N, fallback.ack_ns),
            fill_latency_ns: r(ix::FLAT_SUM, ix::FLAT_N, fallback.fill_latency_ns),
            pi_bps: r(ix::PI, ix::PX_QTY, fallback.pi_bps),
            es_bps: r(ix::ES, ix::PX_QTY, fallback.es_bps),
            qs_bps: r(ix::QS, ix::PX_QTY, fallback.qs_bps),
            ..*fallback
        };
        for h in 0..MAX_HORIZONS {
            let q = ix::MO + 4 * h;
            p.markout_bps[h] = r(q + 1, q, fallback.markout_bps[h]);
            p.impact_bps[h] = r(q + 2, q, fallback.impact_bps[h]);
            p.rs_bps[h] = r(q + 3, q, fallback.rs_bps[h]);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::super::decay::HalfLife;
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn stamps(t: u64) -> Stamps {
        Stamps {
            fast: HalfLife {
                ns: 60 * SEC,
                t0: 0,
            }
            .stamp(t),
            slow: HalfLife {
                ns: 86_400 * SEC,
                t0: 0,
            }
            .stamp(t),
        }
    }

    fn params() -> EstimatorParams {
        EstimatorParams {
            prior_strength: 5.0,
            fast_shrink: 5.0,
            score_horizon: 1,
            n_horizons: 4,
        }
    }

    #[test]
    fn beta_posterior_hand_computed() {
        // 3 fills out of 4 trials, prior mean 0.5 with strength 2: (3 + 1) / (4 + 2) = 2/3.
        assert!((shrink(3.0, 4.0, 1.0, 0.5, 2.0) - 2.0 / 3.0).abs() < 1e-15);
        // Share-weighted: 300 of 400 shares, orders of 100 on average, prior 0.5 strength 2 orders:
        // (300 + 0.5 * 200) / (400 + 200) = 2/3.
        assert!((shrink(300.0, 400.0, 100.0, 0.5, 2.0) - 2.0 / 3.0).abs() < 1e-15);
        // No data: the prior.
        assert_eq!(shrink(0.0, 0.0, 1.0, 0.25, 0.0), 0.25);
    }

    #[test]
    fn empty_cell_estimates_are_the_priors() {
        let c = Cell::default();
        let pr = Priors::default();
        let e = c.estimate(stamps(0), &pr, &params());
        assert_eq!(e.fill_rate, pr.fill_rate);
        assert_eq!(e.reject_rate, pr.reject_rate);
        assert_eq!(e.ack_mean_ns, pr.ack_ns);
        assert_eq!(e.eff_orders, 0.0);
        assert!(!e.has_data && e.price_unavailable);
    }

    #[test]
    fn fast_is_shrunk_toward_slow_by_ess() {
        // One order of 100 shares, fully filled, at t = 0, read at t = 0: ESS 1 in both windows.
        // slow = (100 + 5 * 100 * 0.8) / (100 + 5 * 100) = 500 / 600 = 0.8333...
        // fast = (100 + 5 * 100 * slow) / (100 + 500) = (100 + 416.666...) / 600 = 0.86111...
        let mut c = Cell::default();
        let st = stamps(0);
        c.prepare(st);
        c.add(ix::ORDERS, st, 1.0);
        c.add(ix::QTY_SENT, st, 100.0);
        c.add(ix::QTY_FILLED, st, 100.0);
        c.n_orders = 1;
        let e = c.estimate(st, &Priors::default(), &params());
        assert!((e.fill_rate - (100.0 + 500.0 * (5.0 / 6.0)) / 600.0).abs() < 1e-12);
        assert!((e.eff_orders - 1.0).abs() < 1e-12);
        // One fast half-life later the fast ESS is 0.5: fast weight drops.
        let e2 = c.estimate(stamps(60 * SEC), &Priors::default(), &params());
        assert!((e2.eff_orders_fast - 0.5).abs() < 1e-12);
        assert!(e2.fill_rate < e.fill_rate && e2.fill_rate > 0.8);
    }

    #[test]
    fn pool_priors_are_ratios_of_sums() {
        let st = stamps(0);
        let mut a = Cell::default();
        let mut b = Cell::default();
        for (c, sent, filled) in [(&mut a, 100.0, 90.0), (&mut b, 300.0, 150.0)] {
            c.prepare(st);
            c.add(ix::ORDERS, st, 1.0);
            c.add(ix::QTY_SENT, st, sent);
            c.add(ix::QTY_FILLED, st, filled);
        }
        let mut acc = PoolAccumulator::default();
        acc.add(&a, st);
        acc.add(&b, st);
        let p = acc.priors(&Priors::default());
        // (90 + 150) / (100 + 300) = 0.6; no reject data with 2 orders and 0 rejects -> 0.
        assert!((p.fill_rate - 0.6).abs() < 1e-12);
        assert_eq!(p.reject_rate, 0.0);
        assert_eq!(p.ack_ns, Priors::default().ack_ns);
    }
}
