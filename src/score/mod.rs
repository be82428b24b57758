//! Scoring: each KPI is mapped to `n_k` in [0, 1] by a monotone transform that is defined at zero
//! and never divides by a KPI; the composite of a profile is `100 * sum(w_k n_k) / sum(w_k)`.
//!
//! Transforms (the scales are configuration, defaults in [`Transforms::default`]):
//!
//! | slot | KPI | transform | default scale |
//! |---|---|---|---|
//! | 0 | latency (mean ack latency `L`, ns) | `2^(-L / L_half)` | `L_half` = 10 ms |
//! | 1 | fill rate `f` | `f` | - |
//! | 2 | price improvement `PI`, bps | `logistic(PI / P)` | `P` = 1 bp |
//! | 3 | market impact `IM`, bps | `logistic(-IM / I)` | `I` = 2 bps |
//! | 4 | reject rate `r` | `1 - r` | - |
//! | 5 | effective spread `ES`, bps | `logistic(-ES / E)` | `E` = 2 bps |
//! | 6 | markout `MO`, bps | `logistic(MO / M)` | `M` = 2 bps |
//!
//! `logistic(z) = 1 / (1 + e^-z)` divides by `1 + e^-z` (at least 1), never by a KPI. Scores are
//! absolute: no peer-relative normalisation, so adding or removing an LP never changes another's.
use crate::kpi::{Estimates, HorizonEstimates};
use serde::Deserialize;

/// Number of weight slots (LAYOUT.md: 0 latency .. 6 markout, 7 reserved).
pub const N_WEIGHTS: usize = 8;
/// At most this many profiles.
pub const MAX_PROFILES: usize = 8;

/// KPI slots.
pub mod slot {
    /// Latency.
    pub const LATENCY: usize = 0;
    /// Fill rate.
    pub const FILL_RATE: usize = 1;
    /// Price improvement.
    pub const PRICE_IMPROVEMENT: usize = 2;
    /// Market impact.
    pub const MARKET_IMPACT: usize = 3;
    /// Reject rate.
    pub const REJECT_RATE: usize = 4;
    /// Effective spread.
    pub const EFFECTIVE_SPREAD: usize = 5;
    /// Markout.
    pub const MARKOUT: usize = 6;
}

/// Scales of the transforms.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Transforms {
    /// Latency at which the latency score halves, ns.
    pub latency_half_ns: f64,
    /// PI scale, bps.
    pub pi_scale_bps: f64,
    /// Impact scale, bps.
    pub impact_scale_bps: f64,
    /// ES scale, bps.
    pub es_scale_bps: f64,
    /// Markout scale, bps.
    pub markout_scale_bps: f64,
}

impl Default for Transforms {
    fn default() -> Self {
        Self {
            latency_half_ns: 10_000_000.0,
            pi_scale_bps: 1.0,
            impact_scale_bps: 2.0,
            es_scale_bps: 2.0,
            markout_scale_bps: 2.0,
        }
    }
}

#[inline]
fn logistic(z: f64) -> f64 {
    if z.is_nan() {
        return 0.5;
    }
    1.0 / (1.0 + (-z.clamp(-700.0, 700.0)).exp())
}

#[inline]
fn unit(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

/// The KPI inputs of the score (a subset of [`Estimates`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ScoreInputs {
    /// Mean ack latency, ns.
    pub latency_ns: f64,
    /// Fill rate.
    pub fill_rate: f64,
    /// PI, bps.
    pub pi_bps: f64,
    /// Impact at the score horizon, bps.
    pub impact_bps: f64,
    /// Reject rate.
    pub reject_rate: f64,
    /// ES, bps.
    pub es_bps: f64,
    /// Markout at the score horizon, bps.
    pub markout_bps: f64,
}

impl ScoreInputs {
    /// From a cell's estimates at the score horizon `h`.
    pub fn from_estimates(e: &Estimates, h: usize) -> Self {
        Self::from_row(e, &HorizonEstimates::of(e, h))
    }

    /// From a row's estimates, the score horizon's figures apart
    /// ([`crate::kpi::CellRef::estimate_row_parts`]).
    #[inline]
    pub fn from_row(e: &Estimates, hz: &HorizonEstimates) -> Self {
        Self {
            latency_ns: e.ack_mean_ns,
            fill_rate: e.fill_rate,
            pi_bps: e.pi_bps,
            impact_bps: hz.impact_bps,
            reject_rate: e.reject_rate,
            es_bps: e.es_bps,
            markout_bps: hz.markout_bps,
        }
    }
}

impl Transforms {
    /// `n_k` for every slot, each in [0, 1].
    pub fn normalise(&self, k: &ScoreInputs) -> [f64; N_WEIGHTS] {
        self.normalise_slots(k, u8::MAX)
    }

    /// `n_k` for the slots whose bit is set in `used` (the others are 0: a slot no profile weighs
    /// contributes `0 * n_k = +0.0` to every composite whatever `n_k` in [0, 1] is, so skipping
    /// its transform changes no score).
    #[inline]
    pub fn normalise_slots(&self, k: &ScoreInputs, used: u8) -> [f64; N_WEIGHTS] {
        let on = |s: usize| used & (1 << s) != 0;
        let mut n = [0.0; N_WEIGHTS];
        if on(slot::LATENCY) {
            n[slot::LATENCY] = unit((-k.latency_ns.max(0.0) / self.latency_half_ns).exp2());
        }
        if on(slot::FILL_RATE) {
            n[slot::FILL_RATE] = unit(k.fill_rate);
        }
        if on(slot::PRICE_IMPROVEMENT) {
            n[slot::PRICE_IMPROVEMENT] = unit(logistic(k.pi_bps / self.pi_scale_bps));
        }
        if on(slot::MARKET_IMPACT) {
            n[slot::MARKET_IMPACT] = unit(logistic(-k.impact_bps / self.impact_scale_bps));
        }
        if on(slot::REJECT_RATE) {
            n[slot::REJECT_RATE] = unit(1.0 - k.reject_rate);
        }
        if on(slot::EFFECTIVE_SPREAD) {
            n[slot::EFFECTIVE_SPREAD] = unit(logistic(-k.es_bps / self.es_scale_bps));
        }
        if on(slot::MARKOUT) {
            n[slot::MARKOUT] = unit(logistic(k.markout_bps / self.markout_scale_bps));
        }
        n
    }
}

/// Weights of one profile, by KPI name (configuration form).
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    /// Slot 0.
    pub latency: f64,
    /// Slot 1.
    pub fill_rate: f64,
    /// Slot 2.
    pub price_improvement: f64,
    /// Slot 3.
    pub market_impact: f64,
    /// Slot 4.
    pub reject_rate: f64,
    /// Slot 5.
    pub effective_spread: f64,
    /// Slot 6.
    pub markout: f64,
}

/// The weight names, in slot order (the fields of [`Weights`], the keys of the configuration and
/// of the control protocol).
pub const WEIGHT_NAMES: [&str; 7] = [
    "latency",
    "fill_rate",
    "price_improvement",
    "market_impact",
    "reject_rate",
    "effective_spread",
    "markout",
];

/// The slot of a weight name.
pub fn weight_slot(name: &str) -> Option<usize> {
    WEIGHT_NAMES.iter().position(|n| *n == name)
}

/// Why a profile name is refused (names are published in 16 bytes and typed on command lines).
pub fn check_profile_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 16 {
        return Err("a profile name is 1 to 16 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    {
        return Err("a profile name uses only letters, digits, '_', '-' and '.'");
    }
    Ok(())
}

impl Weights {
    /// From the scoreboard's slot array (slot 7, reserved, is ignored).
    pub fn from_slots(w: &[f64; N_WEIGHTS]) -> Self {
        Self {
            latency: w[0],
            fill_rate: w[1],
            price_improvement: w[2],
            market_impact: w[3],
            reject_rate: w[4],
            effective_spread: w[5],
            markout: w[6],
        }
    }

    /// As the scoreboard's slot array.
    pub fn to_slots(&self) -> [f64; N_WEIGHTS] {
        [
            self.latency,
            self.fill_rate,
            self.price_improvement,
            self.market_impact,
            self.reject_rate,
            self.effective_spread,
            self.markout,
            0.0,
        ]
    }
}

/// A profile as configured.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// Name (at most 16 bytes are published).
    pub name: String,
    /// Weights.
    #[serde(flatten)]
    pub weights: Weights,
}

/// The seed's three strategies (kpis.md): HighFrequency, Block, BestPrice.
pub fn default_profiles() -> Vec<ProfileConfig> {
    let p = |name: &str, l, f, pi, im| ProfileConfig {
        name: name.to_string(),
        weights: Weights {
            latency: l,
            fill_rate: f,
            price_improvement: pi,
            market_impact: im,
            ..Weights::default()
        },
    };
    vec![
        p("HighFrequency", 0.60, 0.15, 0.10, 0.15),
        p("Block", 0.10, 0.40, 0.20, 0.30),
        p("BestPrice", 0.20, 0.20, 0.50, 0.10),
    ]
}

/// Invalid weights: negative, not finite, or all zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadWeights;

impl core::fmt::Display for BadWeights {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("weights must be finite, non-negative and not all zero")
    }
}
impl std::error::Error for BadWeights {}

/// Why a profile change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileError {
    /// No such profile slot (or not the next free one).
    NoSuchSlot,
    /// The name is not 1..=16 of `[A-Za-z0-9_.-]`.
    BadName,
    /// See [`BadWeights`].
    BadWeights,
    /// Another profile already has this name.
    DuplicateName,
    /// The slot holds another profile.
    SlotTaken,
    /// The last profile cannot be removed.
    LastProfile,
}

impl core::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ProfileError::NoSuchSlot => "no such profile slot",
            ProfileError::BadName => "bad profile name",
            ProfileError::BadWeights => "weights must be finite, non-negative and not all zero",
            ProfileError::DuplicateName => "another profile has this name",
            ProfileError::SlotTaken => "the slot holds another profile",
            ProfileError::LastProfile => "the last profile cannot be removed",
        })
    }
}
impl std::error::Error for ProfileError {}

/// Checks a weight vector.
pub fn check_weights(w: &[f64; N_WEIGHTS]) -> Result<(), BadWeights> {
    if w.iter().any(|x| !x.is_finite() || *x < 0.0) || w.iter().sum::<f64>() <= 0.0 {
        return Err(BadWeights);
    }
    Ok(())
}

/// `100 * sum(w_k n_k) / sum(w_k)` in [0, 100]; NaN when the weights are invalid (an inactive
/// profile slot holds NaN in the scoreboard).
pub fn composite(w: &[f64; N_WEIGHTS], n: &[f64; N_WEIGHTS]) -> f64 {
    if check_weights(w).is_err() {
        return f64::NAN;
    }
    let (mut num, mut den) = (0.0, 0.0);
    for k in 0..N_WEIGHTS {
        num += w[k] * n[k];
        den += w[k];
    }
    (100.0 * num / den).clamp(0.0, 100.0)
}

/// What [`composite`] derives from one profile's weights: their validity and sum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreparedWeights {
    valid: bool,
    den: f64,
}

/// Every profile's [`PreparedWeights`] and the KPI slots some profile weighs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreparedProfiles {
    p: [PreparedWeights; MAX_PROFILES],
    n: usize,
    used: u8,
    /// The weights by slot, then profile pair (`wt[k][i / 2][i % 2]` = profile `i`'s weight of
    /// slot `k`; 0 past the profiles): [`Profiles::scores_prepared`] sums two profiles at once.
    wt: [[[f64; 2]; MAX_PROFILES / 2]; N_WEIGHTS],
}

/// The active profiles and their weights. Slot `i` is score slot `i` of every row; a removed
/// profile leaves its slot empty (empty name, all-zero weights: its composite is NaN) so that the
/// other profiles keep their slots.
#[derive(Debug, Clone)]
pub struct Profiles {
    /// Names (empty: the slot is free).
    pub names: Vec<String>,
    /// Weight slots per profile.
    pub weights: Vec<[f64; N_WEIGHTS]>,
}

impl Profiles {
    /// From configuration (at most 8 profiles).
    pub fn new(cfg: &[ProfileConfig]) -> Result<Self, BadWeights> {
        // Room for every slot up front: adding a profile later only copies the name.
        let mut names = Vec::with_capacity(MAX_PROFILES);
        let mut weights = Vec::with_capacity(MAX_PROFILES);
        for p in cfg.iter().take(MAX_PROFILES) {
            let w = p.weights.to_slots();
            check_weights(&w)?;
            names.push(p.name.clone());
            weights.push(w);
        }
        Ok(Self { names, weights })
    }
    /// Whether slot `i` holds a profile.
    pub fn is_active(&self, i: usize) -> bool {
        self.names.get(i).is_some_and(|n| !n.is_empty())
    }

    /// The slot of the active profile named `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| !n.is_empty() && n == name)
    }

    /// Sets slot `i` (at most one past the last slot) to `name` and `w`: a weight change when the
    /// slot holds `name`, a new profile when it is free. Refused: a bad slot, name or weights, a
    /// slot holding another profile, a name another slot holds.
    pub fn set(&mut self, i: usize, name: &str, w: &[f64; N_WEIGHTS]) -> Result<(), ProfileError> {
        if i >= MAX_PROFILES || i > self.names.len() {
            return Err(ProfileError::NoSuchSlot);
        }
        check_profile_name(name).map_err(|_| ProfileError::BadName)?;
        check_weights(w).map_err(|_| ProfileError::BadWeights)?;
        if self.find(name).is_some_and(|j| j != i) {
            return Err(ProfileError::DuplicateName);
        }
        if i == self.names.len() {
            self.names.push(name.to_string());
            self.weights.push(*w);
            return Ok(());
        }
        if self.is_active(i) && self.names[i] != name {
            return Err(ProfileError::SlotTaken);
        }
        if self.names[i] != name {
            self.names[i].clear();
            self.names[i].push_str(name);
        }
        self.weights[i] = *w;
        Ok(())
    }

    /// Frees slot `i` (its composite becomes NaN). The last active profile cannot be removed.
    pub fn remove(&mut self, i: usize) -> Result<(), ProfileError> {
        if !self.is_active(i) {
            return Err(ProfileError::NoSuchSlot);
        }
        if (0..self.names.len()).filter(|&j| self.is_active(j)).count() == 1 {
            return Err(ProfileError::LastProfile);
        }
        self.names[i].clear();
        self.weights[i] = [0.0; N_WEIGHTS];
        Ok(())
    }

    /// The KPI slots some profile weighs (bit k: slot k has a non-zero weight somewhere). A
    /// weight that is NaN or infinite counts as used (its composite is NaN anyway).
    #[inline]
    pub fn used_slots(&self) -> u8 {
        let mut used = 0u8;
        for w in &self.weights {
            for (k, x) in w.iter().enumerate() {
                if *x != 0.0 {
                    used |= 1 << k;
                }
            }
        }
        used
    }

    /// The weights prepared for [`Profiles::scores_prepared`] (recompute after a weight change).
    pub fn prepared(&self) -> PreparedProfiles {
        let used = self.used_slots();
        let mut out = PreparedProfiles {
            p: [PreparedWeights {
                valid: false,
                den: 0.0,
            }; MAX_PROFILES],
            n: self.weights.len().min(MAX_PROFILES),
            used,
            wt: [[[0.0; 2]; MAX_PROFILES / 2]; N_WEIGHTS],
        };
        for (i, (o, w)) in out.p.iter_mut().zip(&self.weights).enumerate() {
            let mut den = 0.0;
            for (k, x) in w.iter().enumerate() {
                den += *x;
                out.wt[k][i / 2][i % 2] = *x;
            }
            *o = PreparedWeights {
                valid: check_weights(w).is_ok(),
                den,
            };
        }
        out
    }

    /// [`Profiles::scores`] with prepared weights: bit-identical, cheaper.
    ///
    /// Every profile's `sum(w_k n_k)` is accumulated at once, slot by slot (ascending, the slots
    /// some profile weighs): per profile, the terms of its non-zero weights in [`composite`]'s
    /// order, plus terms `0 * n_k`. Those are `+0.0` (`n_k` is finite and non-negative, a
    /// weight of `-0.0` gives `-0.0`) and adding a zero to the non-negative running sum changes
    /// no bit; an invalid profile's score is NaN whatever its sum.
    #[inline]
    pub fn scores_prepared(
        p: &PreparedProfiles,
        t: &Transforms,
        k: &ScoreInputs,
    ) -> [f64; MAX_PROFILES] {
        let n = t.normalise_slots(k, p.used);
        // Every slot tested in turn and every profile pair summed (a fixed shape the compiler
        // unrolls: `n` stays in registers, no slot list, no loop over a runtime pair count). Past
        // the profiles the weights are 0 and the sums never read.
        let mut num = [[0.0f64; 2]; MAX_PROFILES / 2];
        for (s, (&x, wt)) in n.iter().zip(&p.wt).enumerate() {
            if p.used & (1 << s) != 0 {
                for (a, w) in num.iter_mut().zip(wt) {
                    *a = [a[0] + w[0] * x, a[1] + w[1] * x];
                }
            }
        }
        let mut out = [f64::NAN; MAX_PROFILES];
        for (i, (o, w)) in out.iter_mut().zip(&p.p[..p.n]).enumerate() {
            if w.valid {
                *o = (100.0 * num[i / 2][i % 2] / w.den).clamp(0.0, 100.0);
            }
        }
        out
    }

    /// Scores of every profile slot (NaN for slots with no profile).
    pub fn scores(&self, t: &Transforms, k: &ScoreInputs) -> [f64; MAX_PROFILES] {
        // Only the transforms some profile weighs (identical composites: see `normalise_slots`).
        let n = t.normalise_slots(k, self.used_slots());
        let mut out = [f64::NAN; MAX_PROFILES];
        for (i, w) in self.weights.iter().enumerate() {
            out[i] = composite(w, &n);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn row_inputs_equal_the_estimates_at_the_horizon() {
        let e = Estimates {
            ack_mean_ns: 7.0,
            fill_rate: 0.25,
            pi_bps: 0.5,
            reject_rate: 0.125,
            es_bps: -3.0,
            ..Default::default()
        };
        let e = HorizonEstimates::distinct_in(e);
        for h in 0..e.markout_bps.len() {
            let hz = HorizonEstimates::of(&e, h);
            assert_eq!(
                ScoreInputs::from_row(&e, &hz),
                ScoreInputs::from_estimates(&e, h),
                "horizon {h}"
            );
        }
    }

    #[test]
    fn transforms_hand_computed() {
        let t = Transforms::default();
        let k = ScoreInputs {
            latency_ns: 10_000_000.0, // one half-latency: 0.5
            fill_rate: 0.985,
            pi_bps: 0.0,        // logistic(0) = 0.5
            impact_bps: 2.0,    // logistic(-1) = 0.268941421
            reject_rate: 0.012, // 0.988
            es_bps: -2.0,       // logistic(1) = 0.731058579
            markout_bps: 0.0,   // 0.5
        };
        let n = t.normalise(&k);
        close(n[0], 0.5);
        close(n[1], 0.985);
        close(n[2], 0.5);
        close(n[3], 0.268_941_421_369_995_1);
        close(n[4], 0.988);
        close(n[5], 0.731_058_578_630_004_9);
        close(n[6], 0.5);
        // Defined at zero: zero latency is the best latency score.
        let z = t.normalise(&ScoreInputs::default());
        close(z[0], 1.0);
        close(z[1], 0.0);
        close(z[4], 1.0);
    }

    #[test]
    fn composite_hand_computed() {
        // HighFrequency on the inputs above:
        // 100 * (0.6 * 0.5 + 0.15 * 0.985 + 0.10 * 0.5 + 0.15 * 0.268941421) / 1.0 = 53.80912132
        let t = Transforms::default();
        let k = ScoreInputs {
            latency_ns: 10_000_000.0,
            fill_rate: 0.985,
            pi_bps: 0.0,
            impact_bps: 2.0,
            reject_rate: 0.012,
            es_bps: -2.0,
            markout_bps: 0.0,
        };
        let p = Profiles::new(&default_profiles()).unwrap();
        let s = p.scores(&t, &k);
        close(s[0], 53.809_121_320_549_93);
        assert!(s[3].is_nan());
        // Block: 100 * (0.1 * 0.5 + 0.4 * 0.985 + 0.2 * 0.5 + 0.3 * 0.268941421) = 62.46824264
        close(s[1], 62.468_242_641_099_85);
        // BestPrice: 100 * (0.2 * 0.5 + 0.2 * 0.985 + 0.5 * 0.5 + 0.1 * 0.268941421) = 57.38941421
        close(s[2], 57.389_414_213_699_95);
        // Weights need not sum to 1: they are normalised.
        let w2 = [6.0, 1.5, 1.0, 1.5, 0.0, 0.0, 0.0, 0.0];
        close(composite(&w2, &t.normalise(&k)), s[0]);
        assert!(composite(&[0.0; 8], &t.normalise(&k)).is_nan());
        assert!(
            Profiles::new(&[ProfileConfig {
                name: "x".into(),
                weights: Weights {
                    latency: -1.0,
                    ..Weights::default()
                }
            }])
            .is_err()
        );
    }

    #[test]
    fn profiles_are_set_added_and_removed_by_slot() {
        let mut p = Profiles::new(&default_profiles()).unwrap();
        let w = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        p.set(1, "Block", &w).unwrap();
        assert_eq!(p.weights[1], w);
        assert_eq!(p.set(1, "Other", &w), Err(ProfileError::SlotTaken));
        assert_eq!(p.set(3, "Block", &w), Err(ProfileError::DuplicateName));
        assert_eq!(p.set(4, "New", &w), Err(ProfileError::NoSuchSlot));
        assert_eq!(p.set(3, "bad name", &w), Err(ProfileError::BadName));
        assert_eq!(p.set(3, "New", &[0.0; 8]), Err(ProfileError::BadWeights));
        p.set(3, "New", &w).unwrap();
        assert_eq!(p.find("New"), Some(3));
        // Removing frees the slot: its score is NaN, the others keep their slots.
        p.remove(1).unwrap();
        assert!(!p.is_active(1));
        assert_eq!(p.find("Block"), None);
        let s = p.scores(&Transforms::default(), &ScoreInputs::default());
        assert!(s[1].is_nan() && !s[0].is_nan() && !s[3].is_nan());
        assert_eq!(p.remove(1), Err(ProfileError::NoSuchSlot));
        // A free slot takes a new profile.
        p.set(1, "Again", &w).unwrap();
        for i in [1, 2, 3] {
            p.remove(i).unwrap();
        }
        assert_eq!(p.remove(0), Err(ProfileError::LastProfile));
        assert_eq!(weight_slot("markout"), Some(6));
        assert_eq!(Weights::from_slots(&w).to_slots(), w);
    }

    fn inputs() -> impl Strategy<Value = ScoreInputs> {
        (
            0.0..1e11f64,
            0.0..=1.0f64,
            -100.0..100.0f64,
            -100.0..100.0f64,
            0.0..=1.0f64,
            -100.0..100.0f64,
            -100.0..100.0f64,
        )
            .prop_map(|(l, f, pi, im, r, es, mo)| ScoreInputs {
                latency_ns: l,
                fill_rate: f,
                pi_bps: pi,
                impact_bps: im,
                reject_rate: r,
                es_bps: es,
                markout_bps: mo,
            })
    }

    fn weights() -> impl Strategy<Value = [f64; 8]> {
        proptest::array::uniform7(0.0..1.0f64).prop_map(|w| {
            let mut a = [0.0; 8];
            a[..7].copy_from_slice(&w);
            a[1] += 1e-3; // never all zero
            a
        })
    }

    proptest! {
        #[test]
        fn scores_in_range(k in inputs(), w in weights()) {
            let t = Transforms::default();
            let n = t.normalise(&k);
            for v in n { prop_assert!((0.0..=1.0).contains(&v)); }
            let s = composite(&w, &n);
            prop_assert!((0.0..=100.0).contains(&s));
        }

        // Improving any single KPI never lowers any profile's score.
        #[test]
        fn better_kpi_never_lowers_score(k in inputs(), w in weights(), d in 0.0..50.0f64, which in 0usize..7) {
            let t = Transforms::default();
            let mut b = k;
            match which {
                0 => b.latency_ns = (k.latency_ns - d * 1e6).max(0.0),
                1 => b.fill_rate = (k.fill_rate + d / 50.0).min(1.0),
                2 => b.pi_bps += d,
                3 => b.impact_bps -= d,
                4 => b.reject_rate = (k.reject_rate - d / 50.0).max(0.0),
                5 => b.es_bps -= d,
                _ => b.markout_bps += d,
            }
            let s0 = composite(&w, &t.normalise(&k));
            let s1 = composite(&w, &t.normalise(&b));
            prop_assert!(s1 >= s0, "{which}: {s0} -> {s1}");
        }

        // The prepared path (non-zero slots listed once) gives the plain path's bits, with
        // some weights exactly zero (skipped) and up to 8 profiles, one of them removed.
        #[test]
        fn prepared_scores_are_bit_identical(
            k in inputs(),
            ws in proptest::collection::vec((weights(), 0u8..=255), 1..=8),
            removed in 0usize..8,
        ) {
            let t = Transforms::default();
            let mut p = Profiles { names: Vec::new(), weights: Vec::new() };
            for (i, (w, zero)) in ws.iter().enumerate() {
                let mut w = *w;
                for (j, x) in w.iter_mut().enumerate() {
                    if zero & (1 << j) != 0 && j != 1 {
                        *x = 0.0;
                    }
                }
                p.names.push(format!("P{i}"));
                p.weights.push(w);
            }
            if removed < p.weights.len() && p.weights.len() > 1 {
                p.remove(removed).unwrap();
            }
            let a = p.scores(&t, &k);
            let b = Profiles::scores_prepared(&p.prepared(), &t, &k);
            for (x, y) in a.iter().zip(&b) {
                prop_assert_eq!(x.to_bits(), y.to_bits());
            }
        }
    }
}
