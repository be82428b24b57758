//! Time-decayed sums in event time, computed by *forward decay*.
//!
//! The definition is `S <- S * 2^(-dt/h) + x`, i.e. `S(now) = sum_i x_i * 2^(-(now - t_i)/h)`.
//! Rather than multiply every sum of a cell on each update (and call `exp2` per cell), each
//! observation is added with the *growing* weight `w_i = 2^((t_i - T0)/h - base)`, so that
//! `S(now) = 2^(base - (now - T0)/h) * sum_i x_i w_i`. A KPI that is a ratio of two sums with the
//! same half-life needs no decay at all (the common factor cancels); only effective sample sizes
//! and Bayesian shrinkage need the absolute value, computed at publication.
//!
//! `2^e` is split as `2^frac(e) * 2^floor(e)`: one `exp2` per event and half-life (shared by every
//! cell the event touches), the integer part is an exact power of two built from its bits. When a
//! cell's weights would exceed `2^RESCALE_AT` its `base` moves up and all its sums are multiplied by
//! an exact power of two, so the arithmetic never overflows (f32 histograms included) and stays
//! deterministic: a replay computes bit-identical values.

/// Weights are kept below `2^RESCALE_AT` relative to a cell's base.
pub const RESCALE_AT: i64 = 60;

/// `2^e` exactly, for integer `e` (0 below the normal range, infinity above).
#[inline]
pub fn pow2i(e: i64) -> f64 {
    if e < -1022 {
        0.0
    } else if e > 1023 {
        f64::INFINITY
    } else {
        f64::from_bits(((e + 1023) as u64) << 52)
    }
}

/// A half-life and the common time origin `T0` of the forward weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HalfLife {
    /// Half-life in ns.
    pub ns: u64,
    /// Origin of the forward weights (the first event time).
    pub t0: u64,
}

/// The forward weight of a time `t`: `p * 2^k` with `p` in [1, 2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stamp {
    /// Integer part of `(t - T0) / h`.
    pub k: i64,
    /// `2^frac((t - T0) / h)`.
    pub p: f64,
}

impl HalfLife {
    /// The stamp of `t`.
    #[inline]
    pub fn stamp(&self, t: u64) -> Stamp {
        // `(t - t0) as f64` with the sign apart: u64 -> f64 rounds to nearest like the i128
        // conversion, and rounding to nearest is symmetric, so this is `(t as i128 - t0 as
        // i128) as f64` bit for bit, without the 128-bit conversion routine.
        let dt = if t >= self.t0 {
            (t - self.t0) as f64
        } else {
            -((self.t0 - t) as f64)
        };
        let e = dt / self.ns as f64;
        let k = e.floor();
        Stamp {
            k: k as i64,
            p: (e - k).exp2(),
        }
    }
}

/// `n` decayed sums sharing one half-life and one base exponent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window<const N: usize> {
    /// The sums, in forward-weighted units (multiply by [`Window::scale`] for absolute values).
    pub s: [f64; N],
    /// The base exponent of this window's weights.
    pub base: i64,
    /// Whether anything was ever added (the base is set by the first addition).
    pub live: bool,
}

impl<const N: usize> Default for Window<N> {
    fn default() -> Self {
        Self {
            s: [0.0; N],
            base: 0,
            live: false,
        }
    }
}

impl<const N: usize> Window<N> {
    /// Prepares to add at `st`: sets or raises the base. Returns the factor every other sum that
    /// shares this window's base (histograms) must be multiplied by, when the base moved.
    #[inline]
    pub fn prepare(&mut self, st: Stamp) -> Option<f64> {
        if !self.live {
            self.live = true;
            self.base = st.k;
            return None;
        }
        if st.k - self.base > RESCALE_AT {
            let f = pow2i(self.base - st.k);
            for v in &mut self.s {
                *v *= f;
            }
            self.base = st.k;
            return Some(f);
        }
        None
    }

    /// The forward weight of `st` relative to this window's base (call [`Window::prepare`] first
    /// when `st` may be the newest time).
    #[inline]
    pub fn weight(&self, st: Stamp) -> f64 {
        st.p * pow2i(st.k - self.base)
    }

    /// Adds `x` at `st` to sum `i` (no prepare: for times not after the newest, e.g. reversals).
    #[inline]
    pub fn add_at(&mut self, i: usize, st: Stamp, x: f64) {
        self.s[i] += x * self.weight(st);
    }

    /// The factor that turns forward-weighted sums into decayed values at time `now`.
    #[inline]
    pub fn scale(&self, now: Stamp) -> f64 {
        if !self.live {
            return 0.0;
        }
        pow2i(self.base - now.k) / now.p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The naive definition: multiply and add.
    fn naive(obs: &[(u64, f64)], now: u64, h: u64) -> f64 {
        let mut s = 0.0;
        let mut t = obs.first().map(|o| o.0).unwrap_or(0);
        for &(ti, x) in obs {
            s = s * (-((ti - t) as f64) / h as f64).exp2() + x;
            t = ti;
        }
        s * (-((now - t) as f64) / h as f64).exp2()
    }

    #[test]
    fn forward_decay_equals_the_definition() {
        let h = HalfLife { ns: 1_000, t0: 500 };
        let obs = [
            (500u64, 2.0),
            (1_500, 1.0),
            (2_500, 4.0),
            (100_000, 3.0),
            (250_000, 1.0),
        ];
        let mut w = Window::<1>::default();
        for (i, &(t, x)) in obs.iter().enumerate() {
            let st = h.stamp(t);
            w.prepare(st);
            w.add_at(0, st, x);
            let now = t + 700;
            let got = w.s[0] * w.scale(h.stamp(now));
            let want = naive(&obs[..=i], now, 1_000);
            assert!(
                (got - want).abs() <= 1e-12 * want.abs().max(1e-300),
                "{i}: {got} vs {want}"
            );
        }
        // S at 2500 = 2 * 2^-2 + 1 * 2^-1 + 4 = 5.0 (hand-computed)
        let mut w = Window::<1>::default();
        for &(t, x) in &obs[..3] {
            let st = h.stamp(t);
            w.prepare(st);
            w.add_at(0, st, x);
        }
        assert_eq!(w.s[0] * w.scale(h.stamp(2_500)), 5.0);
        // one half-life later: 2.5
        assert_eq!(w.s[0] * w.scale(h.stamp(3_500)), 2.5);
    }

    #[test]
    fn rescale_is_exact() {
        let h = HalfLife { ns: 1, t0: 0 };
        let mut w = Window::<2>::default();
        let st = h.stamp(0);
        w.prepare(st);
        w.add_at(0, st, 3.0);
        // 100 half-lives later: base moves, the old sum scales by an exact power of two
        let st = h.stamp(100);
        assert!(w.prepare(st).is_some());
        w.add_at(1, st, 1.0);
        assert_eq!(w.base, 100);
        assert_eq!(w.s[0], 3.0 * pow2i(-100));
        assert_eq!(w.s[1] * w.scale(h.stamp(100)), 1.0);
    }

    #[test]
    fn pow2i_edges() {
        assert_eq!(pow2i(0), 1.0);
        assert_eq!(pow2i(3), 8.0);
        assert_eq!(pow2i(-2), 0.25);
        assert_eq!(pow2i(-2000), 0.0);
        assert!(pow2i(2000).is_infinite());
    }
}
