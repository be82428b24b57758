//! One statistics cell (LP x symbol x size bucket, or one of the aggregates): decayed sums in a
//! fast and a slow window, two decayed latency histograms, raw counts; and the estimator that turns
//! a cell into KPI values (Beta / shrinkage priors from the pool, fast shrunk toward slow).
use super::decay::{RESCALE_AT, Stamp, Window, pow2i};
use super::formulas::TTE_BUCKETS;
use super::hist::{Bins2, HIST_BUCKETS, HistMeta, LogHist};
use super::markout::MAX_HORIZONS;

/// Indices of the decayed sums in a [`Window`].
///
/// Ordered for the cache (four `[fast, slow]` pairs per 64-byte line, a cell's sums start on a
/// line): every sum a published row reads is in lines 0-3 (terminal accounting; ack latency and
/// the cancel figures; the fill figures) plus its horizon's markout line, so a row reads no line
/// that only rare events touch; a fill touches lines 0-4 and its time-to-execution bucket's.
pub mod ix {
    /// Orders that reached a terminal state (weighted at arrival time).
    pub const ORDERS: usize = 0;
    /// Of which rejected.
    pub const REJECTS: usize = 1;
    /// Shares sent (terminal orders).
    pub const QTY_SENT: usize = 2;
    /// Shares filled (terminal orders, late fills included, busts subtracted).
    pub const QTY_FILLED: usize = 3;
    /// Ack latency observations.
    pub const ACK_N: usize = 4;
    /// Sum of ack latencies, ns.
    pub const ACK_SUM: usize = 5;
    /// Cancel and cancel/replace requests sent.
    pub const CXL_REQ: usize = 6;
    /// OrderCancelRejects.
    pub const CXL_REJ: usize = 7;
    /// Fills.
    pub const FILLS: usize = 8;
    /// Fills with a usable arrival quote.
    pub const PX_N: usize = 9;
    /// Their shares.
    pub const PX_QTY: usize = 10;
    /// Sum x * PI (bps).
    pub const PI: usize = 11;
    /// Sum x * ES (bps).
    pub const ES: usize = 12;
    /// Sum x * quoted spread (bps).
    pub const QS: usize = 13;
    /// Shares with PI > 0.
    pub const PI_POS: usize = 14;
    /// Shares at the quote.
    pub const PI_ZERO: usize = 15;
    /// Shares outside the quote.
    pub const PI_NEG: usize = 16;
    /// Fill latency observations.
    pub const FLAT_N: usize = 17;
    /// Sum of fill latencies, ns.
    pub const FLAT_SUM: usize = 18;
    /// Executed shares per time-to-execution bucket (9).
    pub const TTE: usize = 19;
    /// Per horizon h: resolved shares at `MO + 4h`, sum x*MO at `MO + 4h + 1`, x*IM at `+ 2`,
    /// x*RS at `+ 3`.
    pub const MO: usize = TTE + super::TTE_BUCKETS;
    /// Number of sums.
    pub const N: usize = MO + 4 * super::MAX_HORIZONS;
}

// Each horizon's four markout sums fill one cache line.
const _: () = assert!(ix::MO % 4 == 0 && ix::N == 60);

/// The base exponent of one window (the sums themselves live interleaved in [`Cell::sums`]).
pub type Sums = Window<0>;

/// One statistics cell.
///
/// The fast and slow sums are interleaved (`sums[i] = [fast, slow]`) so an observation touches
/// one cache line for both windows, and the sums an event updates together sit side by side.
/// Laid out for the cache (`repr(C)`, 64-byte aligned): line 0 holds what every update and every
/// row reads (the windows' bases, the counts, the dirty flag); the sums start on line 1 so that
/// each group of four updated together (terminal accounting, latencies, fill figures, one
/// horizon's markouts) is one line; the histograms' totals sit right after the sums.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub struct Cell {
    /// Fast window's base exponent.
    pub fast: Sums,
    /// Slow window's base exponent.
    pub slow: Sums,
    /// Terminal orders counted (raw, saturating at u32::MAX when published).
    pub n_orders: u64,
    /// Fills (raw; busts subtract).
    pub n_fills: u64,
    /// Event time of the last change.
    pub last_change: u64,
    /// Queued for publication.
    pub dirty: bool,
    /// `sums[i][0]` fast window (minutes), `sums[i][1]` slow window (days), forward-weighted.
    pub sums: [[f64; 2]; ix::N],
    /// Fills whose price KPIs were skipped (no usable arrival quote).
    pub n_price_skipped: u64,
    /// Ack latency histogram (fast window's weights).
    pub ack_hist: LogHist,
    /// Fill latency histogram (fast window's weights).
    pub fill_hist: LogHist,
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

/// What the engine keeps of a cell besides its sums and histogram bins (those live in
/// zero-initialised arenas, see [`super::Stats`]): the windows' bases, the raw counts, the
/// histograms' totals and the dirty flag, packed into one 64-byte aligned cache line that every
/// update and every row reads.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(64))]
pub struct CellHead {
    /// Fast window's base exponent.
    pub fast_base: i64,
    /// Slow window's base exponent.
    pub slow_base: i64,
    /// Terminal orders counted.
    pub n_orders: u64,
    /// Fills (busts subtract).
    pub n_fills: u64,
    /// Fills whose price KPIs were skipped.
    pub n_price_skipped: u64,
    /// Ack latency histogram's total.
    pub ack_total: f64,
    /// Fill latency histogram's total.
    pub fill_total: f64,
    /// Fast window live (something added).
    pub fast_live: bool,
    /// Slow window live.
    pub slow_live: bool,
    /// Queued for publication.
    pub dirty: bool,
    /// Ack histogram: highest bucket used + 1, lowest bucket used.
    pub ack_end: u8,
    /// See `ack_end`.
    pub ack_start: u8,
    /// Fill histogram: highest bucket used + 1, lowest bucket used.
    pub fill_end: u8,
    /// See `fill_end`.
    pub fill_start: u8,
    /// Which histograms' row quantiles the engine's cache holds ([`QUANT_ACK`], [`QUANT_FILL`]):
    /// cleared by every change of a histogram's totals or bins (`set_ack`, `set_fill`), 0 in a
    /// new or restored header. Derived state, not in snapshots (the padding byte of the line).
    pub quant_fresh: u8,
}

/// [`CellHead::quant_fresh`]: the ack histogram's row quantiles are cached.
pub const QUANT_ACK: u8 = 1;
/// [`CellHead::quant_fresh`]: the fill histogram's row quantile is cached.
pub const QUANT_FILL: u8 = 2;

// One cache line.
const _: () = assert!(core::mem::size_of::<CellHead>() == 64);

impl CellHead {
    /// A new cell's header (empty histograms start at `u8::MAX`).
    pub fn new() -> Self {
        Self {
            ack_start: u8::MAX,
            fill_start: u8::MAX,
            ..Self::default()
        }
    }
    /// The fast window's base.
    #[inline]
    pub fn fast(&self) -> Sums {
        Sums {
            s: [],
            base: self.fast_base,
            live: self.fast_live,
        }
    }
    /// The slow window's base.
    #[inline]
    pub fn slow(&self) -> Sums {
        Sums {
            s: [],
            base: self.slow_base,
            live: self.slow_live,
        }
    }
    /// The ack histogram's totals.
    #[inline]
    pub fn ack(&self) -> HistMeta {
        HistMeta::from_parts(self.ack_total, self.ack_end, self.ack_start)
    }
    /// The fill histogram's totals.
    #[inline]
    pub fn fill(&self) -> HistMeta {
        HistMeta::from_parts(self.fill_total, self.fill_end, self.fill_start)
    }
    /// Every change of the ack histogram (its bins change only with its totals) comes here.
    #[inline]
    fn set_ack(&mut self, m: HistMeta) {
        (self.ack_total, self.ack_end, self.ack_start) = m.parts();
        self.quant_fresh &= !QUANT_ACK;
    }
    /// Every change of the fill histogram comes here.
    #[inline]
    fn set_fill(&mut self, m: HistMeta) {
        (self.fill_total, self.fill_end, self.fill_start) = m.parts();
        self.quant_fresh &= !QUANT_FILL;
    }
}

/// A read-only view of one cell (an owned [`Cell`] or one of the engine's arena cells).
#[derive(Debug, Clone, Copy)]
pub struct CellRef<'a> {
    /// Fast window's base.
    pub fast: Sums,
    /// Slow window's base.
    pub slow: Sums,
    /// The sums.
    pub sums: &'a [[f64; 2]; ix::N],
    /// Ack histogram totals.
    pub ack: HistMeta,
    /// Both histograms' bins, interleaved (`[b][0]` ack, `[b][1]` fill).
    pub bins: &'a Bins2,
    /// Fill histogram totals.
    pub fill: HistMeta,
    /// Terminal orders counted.
    pub n_orders: u64,
    /// Fills.
    pub n_fills: u64,
    /// Fills whose price KPIs were skipped.
    pub n_price_skipped: u64,
}

/// A mutable view of one of the engine's arena cells: the same updates as [`Cell`]'s.
#[derive(Debug)]
pub struct CellMut<'a> {
    /// Header.
    pub head: &'a mut CellHead,
    /// The sums.
    pub sums: &'a mut [[f64; 2]; ix::N],
    /// Both histograms' bins, interleaved (`[b][0]` ack, `[b][1]` fill).
    pub bins: &'a mut Bins2,
}

impl CellMut<'_> {
    /// As [`Cell::prepare`].
    #[inline]
    pub fn prepare(&mut self, st: Stamps) {
        let mut fast = self.head.fast();
        let moved = fast.prepare(st.fast);
        (self.head.fast_base, self.head.fast_live) = (fast.base, fast.live);
        if let Some(f) = moved {
            for v in self.sums.iter_mut() {
                v[0] *= f;
            }
            let (mut a, mut b) = (self.head.ack(), self.head.fill());
            a.rescale_lane(self.bins, 0, f);
            b.rescale_lane(self.bins, 1, f);
            self.head.set_ack(a);
            self.head.set_fill(b);
        }
        let mut slow = self.head.slow();
        let moved = slow.prepare(st.slow);
        (self.head.slow_base, self.head.slow_live) = (slow.base, slow.live);
        if let Some(f) = moved {
            for v in self.sums.iter_mut() {
                v[1] *= f;
            }
        }
    }
    /// As [`Cell::prepare_weights`]: [`CellMut::prepare`] then the weights, with the header's
    /// fields read and written in place (the common case, no rescale, is a few compares; a
    /// rescale goes through [`CellMut::prepare`], which does the same).
    #[inline]
    pub fn prepare_weights(&mut self, st: Stamps) -> [f64; 2] {
        let h = &mut *self.head;
        let rescale = (h.fast_live && st.fast.k - h.fast_base > RESCALE_AT)
            || (h.slow_live && st.slow.k - h.slow_base > RESCALE_AT);
        if rescale {
            self.prepare_cold(st);
        } else {
            // What `Window::prepare` does when nothing moves: a first addition sets the base.
            if !h.fast_live {
                (h.fast_base, h.fast_live) = (st.fast.k, true);
            }
            if !h.slow_live {
                (h.slow_base, h.slow_live) = (st.slow.k, true);
            }
        }
        let h = &*self.head;
        [
            st.fast.p * pow2i(st.fast.k - h.fast_base),
            st.slow.p * pow2i(st.slow.k - h.slow_base),
        ]
    }
    #[cold]
    #[inline(never)]
    fn prepare_cold(&mut self, st: Stamps) {
        self.prepare(st);
    }
    /// As [`Cell::add_w`].
    #[inline]
    pub fn add_w(&mut self, i: usize, w: [f64; 2], x: f64) {
        let s = &mut self.sums[i];
        s[0] += x * w[0];
        s[1] += x * w[1];
    }
    /// As [`Cell::add_latency_w`].
    #[inline]
    pub fn add_latency_w(&mut self, fill: bool, ns: u64, w: [f64; 2]) {
        if fill {
            let mut m = self.head.fill();
            m.add_lane(self.bins, 1, ns, w[0]);
            self.head.set_fill(m);
            self.add_w(ix::FLAT_N, w, 1.0);
            self.add_w(ix::FLAT_SUM, w, ns as f64);
        } else {
            let mut m = self.head.ack();
            m.add_lane(self.bins, 0, ns, w[0]);
            self.head.set_ack(m);
            self.add_w(ix::ACK_N, w, 1.0);
            self.add_w(ix::ACK_SUM, w, ns as f64);
        }
    }
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
    /// [`Cell::prepare`], then the forward weights of `st` in both windows (for [`Cell::add_w`]:
    /// computed once per observation instead of once per sum, the same values).
    #[inline]
    pub fn prepare_weights(&mut self, st: Stamps) -> [f64; 2] {
        self.prepare(st);
        self.weights(st)
    }
    /// The forward weights of `st` in the fast and slow windows (after [`Cell::prepare`]).
    #[inline]
    pub fn weights(&self, st: Stamps) -> [f64; 2] {
        [self.fast.weight(st.fast), self.slow.weight(st.slow)]
    }
    /// Adds `x` to sum `i` in both windows with the weights `w` of [`Cell::weights`]: exactly
    /// what [`Cell::add`] computes.
    #[inline]
    pub fn add_w(&mut self, i: usize, w: [f64; 2], x: f64) {
        let s = &mut self.sums[i];
        s[0] += x * w[0];
        s[1] += x * w[1];
    }
    /// [`Cell::add_latency`] with the weights of [`Cell::weights`].
    #[inline]
    pub fn add_latency_w(&mut self, fill: bool, ns: u64, w: [f64; 2]) {
        if fill {
            self.fill_hist.add(ns, w[0]);
            self.add_w(ix::FLAT_N, w, 1.0);
            self.add_w(ix::FLAT_SUM, w, ns as f64);
        } else {
            self.ack_hist.add(ns, w[0]);
            self.add_w(ix::ACK_N, w, 1.0);
            self.add_w(ix::ACK_SUM, w, ns as f64);
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

/// The score horizon's figures of a row: what [`Estimates`]' per-horizon arrays hold at it.
/// The publication path carries them apart (see [`CellRef::estimate_row_parts`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HorizonEstimates {
    /// Markout, bps.
    pub markout_bps: f64,
    /// Impact, bps.
    pub impact_bps: f64,
    /// Realized spread, bps.
    pub rs_bps: f64,
}

impl HorizonEstimates {
    /// The figures of `e`'s per-horizon arrays at horizon `h`.
    #[inline(always)]
    pub fn of(e: &Estimates, h: usize) -> Self {
        Self {
            markout_bps: e.markout_bps[h],
            impact_bps: e.impact_bps[h],
            rs_bps: e.rs_bps[h],
        }
    }

    /// Stores the figures into `e`'s per-horizon arrays at horizon `h` (the inverse of
    /// [`HorizonEstimates::of`]).
    #[inline(always)]
    pub fn put_into(self, e: &mut Estimates, h: usize) {
        e.markout_bps[h] = self.markout_bps;
        e.impact_bps[h] = self.impact_bps;
        e.rs_bps[h] = self.rs_bps;
    }

    /// Test data: `e` with different figures at every horizon (`1.5 k`, `-2.25 k`, `3.125 k` at
    /// horizon `k - 1`), so a figure read from the wrong horizon, or the wrong one of the three,
    /// shows.
    #[cfg(test)]
    pub(crate) fn distinct_in(mut e: Estimates) -> Estimates {
        for h in 0..e.markout_bps.len() {
            let k = h as f64 + 1.0;
            e.markout_bps[h] = 1.5 * k;
            e.impact_bps[h] = -2.25 * k;
            e.rs_bps[h] = 3.125 * k;
        }
        e
    }
}

/// The latency quantiles a row shows ([`Estimates`]' `ack_p50_ns`, `ack_p99_ns`,
/// `fill_p50_ns`: 0 for an empty histogram). 32 bytes, so a cached copy never straddles lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C, align(32))]
pub struct RowQuantiles {
    /// Ack latency p50, ns.
    pub ack_p50_ns: u64,
    /// Ack latency p99, ns.
    pub ack_p99_ns: u64,
    /// Fill latency p50, ns.
    pub fill_p50_ns: u64,
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

/// What [`shrink`] derives from a denominator and a count in both windows (slow toward the
/// prior, fast toward the slow): shared by the figures with that denominator.
#[derive(Clone, Copy)]
struct Den {
    /// Slow: `m * unit` and `den + m * unit`.
    mu_s: f64,
    d_s: f64,
    /// Fast: the same.
    mu_f: f64,
    d_f: f64,
}

impl Den {
    #[inline(always)]
    fn new(s: &Abs<'_>, f: &Abs<'_>, den: usize, cnt: usize, p: &EstimatorParams) -> Self {
        let sd = s.get(den);
        let fd = f.get(den);
        // A figure counted in its own denominator's unit (orders, cancel requests, acks: `den`
        // and `cnt` are constants after inlining, so the test folds away) has `unit_of(d, d)`:
        // `d / d`, exactly 1.0 for a finite `d > 1e-12`, without the division.
        let (unit_s, unit_f) = if den == cnt {
            let unit_s = unit_same(sd, 1.0);
            (unit_s, unit_same(fd, unit_s))
        } else {
            let unit_s = unit_of(sd, s.get(cnt), 1.0);
            (unit_s, unit_of(fd, f.get(cnt), unit_s))
        };
        let mu_s = p.prior_strength * unit_s;
        let mu_f = p.fast_shrink * unit_f;
        Self {
            mu_s,
            d_s: sd + mu_s,
            mu_f,
            d_f: fd + mu_f,
        }
    }
    /// `shrink(f[num], f[den], unit_f, shrink(s[num], s[den], unit_s, prior, m_s), m_f)`.
    #[inline(always)]
    fn est(&self, s: &Abs<'_>, f: &Abs<'_>, num: usize, prior: f64) -> f64 {
        let slow = if self.d_s <= 0.0 {
            prior
        } else {
            (s.get(num) + self.mu_s * prior) / self.d_s
        };
        if self.d_f <= 0.0 {
            slow
        } else {
            (f.get(num) + self.mu_f * slow) / self.d_f
        }
    }
}

#[inline]
fn unit_of(den: f64, n: f64, fallback: f64) -> f64 {
    if n > 1e-12 && den > 0.0 {
        den / n
    } else {
        fallback
    }
}

/// `unit_of(d, d, fallback)` bit for bit (`d > 1e-12` implies `d > 0`): `d / d` is exactly 1.0
/// for a finite `d`, so only an infinite `d` (never met in practice) divides. An empty window
/// (`d` = 0, the common case of a cell with no cancel request) takes one compare, as before.
#[inline]
#[allow(clippy::eq_op)] // `d / d` on purpose: the NaN `unit_of` computes for an infinite `d`.
fn unit_same(d: f64, fallback: f64) -> f64 {
    if d > 1e-12 {
        if d < f64::INFINITY { 1.0 } else { d / d }
    } else {
        fallback
    }
}

impl Cell {
    /// Both histograms' bins interleaved, as the views hold them.
    pub fn bins2(&self) -> Bins2 {
        let mut b = [[0.0f32; 2]; HIST_BUCKETS];
        for (o, (a, f)) in b
            .iter_mut()
            .zip(self.ack_hist.bins().iter().zip(self.fill_hist.bins()))
        {
            *o = [*a, *f];
        }
        b
    }

    /// A read-only view (the estimator works on views), with `bins` = [`Cell::bins2`].
    pub fn view<'a>(&'a self, bins: &'a Bins2) -> CellRef<'a> {
        CellRef {
            fast: self.fast,
            slow: self.slow,
            sums: &self.sums,
            ack: *self.ack_hist.meta(),
            fill: *self.fill_hist.meta(),
            bins,
            n_orders: self.n_orders,
            n_fills: self.n_fills,
            n_price_skipped: self.n_price_skipped,
        }
    }

    /// The estimates at `now`, with the pool's `priors`.
    pub fn estimate(&self, now: Stamps, priors: &Priors, p: &EstimatorParams) -> Estimates {
        self.view(&self.bins2()).estimate(now, priors, p)
    }

    /// Only what a scoreboard row shows (the score horizon's markouts; no time-to-execution
    /// shares, no at-quote/outside split, no mean fill latency): the publication path.
    pub fn estimate_row(&self, now: Stamps, priors: &Priors, p: &EstimatorParams) -> Estimates {
        self.view(&self.bins2()).estimate_row(now, priors, p)
    }
}

impl CellRef<'_> {
    /// The slow window's forward-weighted sum `i`.
    #[inline]
    pub fn slow_sum(&self, i: usize) -> f64 {
        self.sums[i][1]
    }

    /// As [`Cell::estimate`].
    pub fn estimate(&self, now: Stamps, priors: &Priors, p: &EstimatorParams) -> Estimates {
        self.estimate_scope(now, priors, p, true, self.row_quantiles())
            .0
    }

    /// The row's latency quantiles, scanned from the bins.
    #[inline]
    pub fn row_quantiles(&self) -> RowQuantiles {
        self.row_quantiles_cached(0, RowQuantiles::default())
    }

    /// [`CellRef::row_quantiles`], taking from `cached` those of the histograms `fresh` names
    /// ([`QUANT_ACK`], [`QUANT_FILL`]) and scanning the others.
    #[inline(always)]
    pub fn row_quantiles_cached(&self, fresh: u8, cached: RowQuantiles) -> RowQuantiles {
        let mut q = cached;
        if fresh & QUANT_ACK == 0 {
            [q.ack_p50_ns, q.ack_p99_ns] = self
                .ack
                .quantiles_lane(self.bins, 0, [0.5, 0.99])
                .unwrap_or([0; 2]);
        }
        if fresh & QUANT_FILL == 0 {
            [q.fill_p50_ns] = self.fill.quantiles_lane(self.bins, 1, [0.5]).unwrap_or([0]);
        }
        q
    }

    /// As [`Cell::estimate_row`].
    #[inline(always)]
    pub fn estimate_row(&self, now: Stamps, priors: &Priors, p: &EstimatorParams) -> Estimates {
        let (mut e, hz) = self.estimate_row_parts(now, priors, p);
        let h = p.score_horizon;
        if h < p.n_horizons.min(MAX_HORIZONS) {
            hz.put_into(&mut e, h);
        }
        e
    }

    /// [`CellRef::estimate_row`] with the score horizon's figures apart (the per-horizon arrays
    /// left at 0; the figures are 0 when the score horizon is not below `n_horizons`): the
    /// publication path. Inlined (with the estimator) into it, so that the estimates a row does
    /// not show are never stored; with no array indexed by the horizon, the estimates stay in
    /// registers instead of being zeroed and stored on the stack.
    #[inline(always)]
    pub fn estimate_row_parts(
        &self,
        now: Stamps,
        priors: &Priors,
        p: &EstimatorParams,
    ) -> (Estimates, HorizonEstimates) {
        self.estimate_scope(now, priors, p, false, self.row_quantiles())
    }

    /// [`CellRef::estimate_row_parts`] with the latency quantiles `q` given (the engine's
    /// cached [`CellRef::row_quantiles`]): the same values when `q` is this cell's.
    #[inline(always)]
    pub fn estimate_row_parts_with(
        &self,
        now: Stamps,
        priors: &Priors,
        p: &EstimatorParams,
        q: RowQuantiles,
    ) -> (Estimates, HorizonEstimates) {
        self.estimate_scope(now, priors, p, false, q)
    }

    #[inline(always)]
    fn estimate_scope(
        &self,
        now: Stamps,
        priors: &Priors,
        p: &EstimatorParams,
        full: bool,
        q: RowQuantiles,
    ) -> (Estimates, HorizonEstimates) {
        let f = Abs {
            s: self.sums,
            side: 0,
            k: self.fast.scale(now.fast),
        };
        let s = Abs {
            s: self.sums,
            side: 1,
            k: self.slow.scale(now.slow),
        };
        // Every figure: slow shrunk to the pool prior, fast shrunk to the slow. The figures that
        // share a denominator and a count (the four price figures, one horizon's three) share
        // its units and shrunk denominators, computed once ([`Den`]): the same operations on the
        // same values as one [`shrink`] per figure, so the same bits.
        let den = |den: usize, cnt: usize| Den::new(&s, &f, den, cnt, p);
        let d = den(ix::QTY_SENT, ix::ORDERS);
        let fill_rate = d.est(&s, &f, ix::QTY_FILLED, priors.fill_rate);
        let d = den(ix::ORDERS, ix::ORDERS);
        let reject_rate = d.est(&s, &f, ix::REJECTS, priors.reject_rate);
        let d = den(ix::CXL_REQ, ix::CXL_REQ);
        let cancel_reject_rate = d.est(&s, &f, ix::CXL_REJ, priors.cancel_reject_rate);
        let d = den(ix::ACK_N, ix::ACK_N);
        let ack_mean_ns = d.est(&s, &f, ix::ACK_SUM, priors.ack_ns);
        let px = den(ix::PX_QTY, ix::PX_N);
        let mut e = Estimates {
            fill_rate,
            reject_rate,
            cancel_reject_rate,
            pi_rate: px.est(&s, &f, ix::PI_POS, priors.pi_rate),
            ack_mean_ns,
            pi_bps: px.est(&s, &f, ix::PI, priors.pi_bps),
            es_bps: px.est(&s, &f, ix::ES, priors.es_bps),
            qs_bps: px.est(&s, &f, ix::QS, priors.qs_bps),
            ..Default::default()
        };
        if full {
            e.at_quote_rate = px.est(&s, &f, ix::PI_ZERO, priors.at_quote_rate);
            e.outside_rate = px.est(&s, &f, ix::PI_NEG, priors.outside_rate);
            let d = den(ix::FLAT_N, ix::FLAT_N);
            e.fill_latency_mean_ns = d.est(&s, &f, ix::FLAT_SUM, priors.fill_latency_ns);
        }
        // Every horizon into the arrays, or (a row) the score horizon alone, apart, without
        // walking the others: the same operations on the same values. (Written out twice on
        // purpose: one closure for both cost the row path about 160 instructions a message.)
        let horizons = p.n_horizons.min(MAX_HORIZONS);
        let mut hz = HorizonEstimates::default();
        if full {
            for h in 0..horizons {
                let q = ix::MO + 4 * h;
                let d = den(q, ix::PX_N);
                e.markout_bps[h] = d.est(&s, &f, q + 1, priors.markout_bps[h]);
                e.impact_bps[h] = d.est(&s, &f, q + 2, priors.impact_bps[h]);
                e.rs_bps[h] = d.est(&s, &f, q + 3, priors.rs_bps[h]);
            }
        } else if p.score_horizon < horizons {
            let h = p.score_horizon;
            let q = ix::MO + 4 * h;
            let d = den(q, ix::PX_N);
            hz = HorizonEstimates {
                markout_bps: d.est(&s, &f, q + 1, priors.markout_bps[h]),
                impact_bps: d.est(&s, &f, q + 2, priors.impact_bps[h]),
                rs_bps: d.est(&s, &f, q + 3, priors.rs_bps[h]),
            };
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
        // (0 for an empty histogram, as `Estimates::default`.)
        e.ack_p50_ns = q.ack_p50_ns;
        e.ack_p99_ns = q.ack_p99_ns;
        e.fill_p50_ns = q.fill_p50_ns;
        e.eff_orders = s.get(ix::ORDERS).max(0.0);
        e.eff_fills = s.get(ix::FILLS).max(0.0);
        e.eff_orders_fast = f.get(ix::ORDERS).max(0.0);
        e.has_data = self.n_orders > 0 || self.n_fills > 0 || self.slow_sum(ix::ACK_N) > 0.0;
        e.price_unavailable = self.slow_sum(ix::PX_QTY) <= 0.0;
        // Rates are probabilities: clamp the rounding residue of reversals. (Field by field,
        // not through an array of references, which would keep `e` in memory and copy it out.)
        let prob = |r: f64| {
            if r.is_finite() {
                r.clamp(0.0, 1.0)
            } else {
                0.0
            }
        };
        e.fill_rate = prob(e.fill_rate);
        e.reject_rate = prob(e.reject_rate);
        e.cancel_reject_rate = prob(e.cancel_reject_rate);
        e.pi_rate = prob(e.pi_rate);
        if full {
            // (Left at 0 on the row path: `prob(0.0)` is 0.0.)
            e.at_quote_rate = prob(e.at_quote_rate);
            e.outside_rate = prob(e.outside_rate);
        }
        (e, hz)
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
        self.add_ref(&c.view(&c.bins2()), now);
    }
    /// As [`PoolAccumulator::add`], from a view.
    pub fn add_ref(&mut self, c: &CellRef<'_>, now: Stamps) {
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

    #[test]
    fn prepare_weights_matches_prepare_then_weights() {
        // The in-place fast path and the reference (`prepare`, then each window's `weight`) give
        // the same weights, bases, sums and histograms, through first additions, ordinary
        // steps, older times (reversals) and jumps past RESCALE_AT half-lives (rescales).
        let h = super::super::decay::HalfLife { ns: 1_000, t0: 0 };
        let g = super::super::decay::HalfLife { ns: 7_000, t0: 0 };
        let mk = || {
            (
                CellHead::new(),
                [[0.0f64; 2]; ix::N],
                [[0.0f32; 2]; HIST_BUCKETS],
            )
        };
        let (mut ha, mut sa, mut ba) = mk();
        let (mut hb, mut sb, mut bb) = mk();
        let times = [
            5u64, 5, 1_700, 900, 64_000, 64_500, 200_000, 100, 1_000_000, 1_000_001, 3, 9_000_000,
        ];
        for (i, &t) in times.iter().enumerate() {
            let st = Stamps {
                fast: h.stamp(t),
                slow: g.stamp(t),
            };
            let mut a = CellMut {
                head: &mut ha,
                sums: &mut sa,
                bins: &mut ba,
            };
            let wa = a.prepare_weights(st);
            a.add_w(ix::ORDERS, wa, 1.0 + i as f64);
            a.add_latency_w(i % 2 == 0, 1_000 * (i as u64 + 1), wa);
            let mut b = CellMut {
                head: &mut hb,
                sums: &mut sb,
                bins: &mut bb,
            };
            b.prepare(st);
            let wb = [b.head.fast().weight(st.fast), b.head.slow().weight(st.slow)];
            b.add_w(ix::ORDERS, wb, 1.0 + i as f64);
            b.add_latency_w(i % 2 == 0, 1_000 * (i as u64 + 1), wb);
            assert_eq!(wa.map(f64::to_bits), wb.map(f64::to_bits), "step {i}");
            assert_eq!(
                (ha.fast_base, ha.slow_base, ha.fast_live, ha.slow_live),
                (hb.fast_base, hb.slow_base, hb.fast_live, hb.slow_live)
            );
            assert_eq!(ha.ack_total.to_bits(), hb.ack_total.to_bits());
            assert_eq!(ha.fill_total.to_bits(), hb.fill_total.to_bits());
            for (x, y) in sa.iter().zip(&sb) {
                assert_eq!(x.map(f64::to_bits), y.map(f64::to_bits));
            }
            for (x, y) in ba.iter().zip(&bb) {
                assert_eq!(x.map(f32::to_bits), y.map(f32::to_bits));
            }
        }
        // The jumps did move the bases (a rescale happened).
        assert!(ha.fast_base > 60);
    }

    #[test]
    fn unit_same_is_unit_of_a_denominator_by_itself() {
        let tiny = 1e-12f64;
        let ds = [
            0.0,
            -0.0,
            tiny,
            f64::from_bits(tiny.to_bits() + 1),
            f64::from_bits(tiny.to_bits() - 1),
            f64::from_bits(1),
            f64::MIN_POSITIVE,
            0.5,
            1.0,
            3.0,
            1.0 / 3.0,
            4.0e7,
            1e300,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            f64::NAN,
            -f64::NAN,
        ];
        for d in ds {
            for fb in [1.0, 0.5, 2.5, f64::NAN] {
                assert_eq!(
                    unit_same(d, fb).to_bits(),
                    unit_of(d, d, fb).to_bits(),
                    "d {d:e} fallback {fb}"
                );
            }
        }
    }

    #[test]
    fn shared_denominators_give_one_shrink_per_figure() {
        // The estimator computes each denominator's units once; every figure must still be
        // `shrink(fast, .., shrink(slow, .., prior))` bit for bit (an empty window included).
        let mut c = Cell::default();
        let st = stamps(0);
        c.prepare(st);
        for (i, x) in [
            3.0, 1.0, 300.0, 250.0, 4.0, 4.0e7, 2.0, 1.0, 3.0, 2.0, 250.0, 125.0,
        ]
        .iter()
        .enumerate()
        {
            c.add(i, st, *x);
        }
        for (i, x) in [120.0, -30.0, 40.0, 80.0, 100.0, 60.0, 20.0]
            .iter()
            .enumerate()
        {
            c.add(ix::PI + i, st, *x);
        }
        let q = ix::MO + 4;
        for (i, x) in [200.0, 50.0, -25.0, 75.0].iter().enumerate() {
            c.add(q + i, st, *x);
        }
        let pr = Priors::default();
        let p = params();
        let now = stamps(90 * SEC);
        let e = c.estimate(now, &pr, &p);
        let (kf, ks) = (c.fast.scale(now.fast), c.slow.scale(now.slow));
        let want = |num: usize, den: usize, cnt: usize, prior: f64| {
            let (sf, ss) = (|i: usize| c.sums[i][0] * kf, |i: usize| c.sums[i][1] * ks);
            let unit_s = unit_of(ss(den), ss(cnt), 1.0);
            let slow = shrink(ss(num), ss(den), unit_s, prior, p.prior_strength);
            let unit_f = unit_of(sf(den), sf(cnt), unit_s);
            shrink(sf(num), sf(den), unit_f, slow, p.fast_shrink)
        };
        let pairs = [
            (
                e.fill_rate,
                want(ix::QTY_FILLED, ix::QTY_SENT, ix::ORDERS, pr.fill_rate),
            ),
            (
                e.reject_rate,
                want(ix::REJECTS, ix::ORDERS, ix::ORDERS, pr.reject_rate),
            ),
            (
                e.cancel_reject_rate,
                want(ix::CXL_REJ, ix::CXL_REQ, ix::CXL_REQ, pr.cancel_reject_rate),
            ),
            (
                e.ack_mean_ns,
                want(ix::ACK_SUM, ix::ACK_N, ix::ACK_N, pr.ack_ns),
            ),
            (
                e.pi_rate,
                want(ix::PI_POS, ix::PX_QTY, ix::PX_N, pr.pi_rate),
            ),
            (
                e.at_quote_rate,
                want(ix::PI_ZERO, ix::PX_QTY, ix::PX_N, pr.at_quote_rate),
            ),
            (
                e.outside_rate,
                want(ix::PI_NEG, ix::PX_QTY, ix::PX_N, pr.outside_rate),
            ),
            (e.pi_bps, want(ix::PI, ix::PX_QTY, ix::PX_N, pr.pi_bps)),
            (e.es_bps, want(ix::ES, ix::PX_QTY, ix::PX_N, pr.es_bps)),
            (e.qs_bps, want(ix::QS, ix::PX_QTY, ix::PX_N, pr.qs_bps)),
            (
                e.fill_latency_mean_ns,
                want(ix::FLAT_SUM, ix::FLAT_N, ix::FLAT_N, pr.fill_latency_ns),
            ),
            (
                e.markout_bps[1],
                want(q + 1, q, ix::PX_N, pr.markout_bps[1]),
            ),
            (e.impact_bps[1], want(q + 2, q, ix::PX_N, pr.impact_bps[1])),
            (e.rs_bps[1], want(q + 3, q, ix::PX_N, pr.rs_bps[1])),
            (
                e.markout_bps[2],
                want(ix::MO + 9, ix::MO + 8, ix::PX_N, pr.markout_bps[2]),
            ),
        ];
        for (i, (got, want)) in pairs.iter().enumerate() {
            let want = if i == 0 || i == 1 || i == 2 || (4..7).contains(&i) {
                want.clamp(0.0, 1.0)
            } else {
                *want
            };
            assert_eq!(got.to_bits(), want.to_bits(), "figure {i}: {got} vs {want}");
        }
        // The row path computes the same figures.
        let r = c.estimate_row(now, &pr, &p);
        assert_eq!(r.fill_rate.to_bits(), e.fill_rate.to_bits());
        assert_eq!(r.impact_bps[1].to_bits(), e.impact_bps[1].to_bits());
        assert_eq!(r.es_bps.to_bits(), e.es_bps.to_bits());
    }

    #[test]
    fn row_path_computes_the_score_horizon_alone() {
        // Different sums at every horizon, so a figure from the wrong horizon shows.
        let mut c = Cell::default();
        let st = stamps(0);
        c.prepare(st);
        c.add(ix::PX_N, st, 3.0);
        for h in 0..MAX_HORIZONS {
            let q = ix::MO + 4 * h;
            let k = (h + 1) as f64;
            for (i, x) in [100.0 * k, -7.0 * k, 3.0 * k, 11.0 * k].iter().enumerate() {
                c.add(q + i, st, *x);
            }
        }
        let pr = Priors::default();
        let now = stamps(5 * SEC);
        for n_horizons in [0, 1, 4, MAX_HORIZONS, MAX_HORIZONS + 3] {
            for score_horizon in 0..MAX_HORIZONS + 2 {
                let p = EstimatorParams {
                    score_horizon,
                    n_horizons,
                    ..params()
                };
                let full = c.estimate(now, &pr, &p);
                let row = c.estimate_row(now, &pr, &p);
                // The publication path's form: the arrays untouched, the figures apart.
                let (parts, hz) = c.view(&c.bins2()).estimate_row_parts(now, &pr, &p);
                assert!(
                    [parts.markout_bps, parts.impact_bps, parts.rs_bps]
                        .iter()
                        .flatten()
                        .all(|x| x.to_bits() == 0)
                );
                let want_hz = if score_horizon < n_horizons.min(MAX_HORIZONS) {
                    let h = score_horizon;
                    [full.markout_bps[h], full.impact_bps[h], full.rs_bps[h]]
                } else {
                    [0.0; 3]
                };
                assert_eq!(
                    [hz.markout_bps, hz.impact_bps, hz.rs_bps].map(f64::to_bits),
                    want_hz.map(f64::to_bits),
                    "score horizon {score_horizon} of {n_horizons}"
                );
                for h in 0..MAX_HORIZONS {
                    let shown = h == score_horizon && h < n_horizons;
                    for (got, all) in [
                        (row.markout_bps[h], full.markout_bps[h]),
                        (row.impact_bps[h], full.impact_bps[h]),
                        (row.rs_bps[h], full.rs_bps[h]),
                    ] {
                        let want = if shown { all } else { 0.0 };
                        assert_eq!(
                            got.to_bits(),
                            want.to_bits(),
                            "horizon {h} of {n_horizons}, score horizon {score_horizon}"
                        );
                    }
                    if h < n_horizons {
                        assert_ne!(full.markout_bps[h], 0.0, "horizon {h} has data");
                    }
                }
            }
        }
    }
}
