//! Deterministic randomness for the simulator: one seed, the same run every time.
//!
//! SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for behaviour models. The
//! simulator never touches the OS's entropy, so `lpscore demo --seed N` is reproducible bit for bit.

/// A SplitMix64 generator.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator from a seed. Different seeds give unrelated streams.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// An independent generator derived from this one's seed and a label, so that adding a
    /// consumer (say, one more LP) does not shift every other consumer's stream.
    pub fn fork(&self, label: u64) -> Self {
        let mut r = Self::new(self.state ^ label.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p` (clamped to [0, 1]).
    pub fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p.clamp(0.0, 1.0)
    }

    /// Standard normal (Box-Muller; one value per call keeps the stream simple to reason about).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Log-normal with the given median and log-space sigma.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn uniform_and_normal_moments() {
        let mut r = Rng::new(7);
        let n = 200_000;
        let (mut su, mut sn, mut sn2) = (0.0, 0.0, 0.0);
        for _ in 0..n {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
            su += u;
            let z = r.normal();
            sn += z;
            sn2 += z * z;
        }
        let n = n as f64;
        assert!((su / n - 0.5).abs() < 0.01);
        assert!((sn / n).abs() < 0.01);
        assert!((sn2 / n - 1.0).abs() < 0.02);
    }

    #[test]
    fn lognormal_median() {
        let mut r = Rng::new(9);
        let mut v: Vec<f64> = (0..20_001).map(|_| r.lognormal(15.0, 0.4)).collect();
        v.sort_by(f64::total_cmp);
        assert!((v[10_000] - 15.0).abs() < 0.5, "median {}", v[10_000]);
    }

    #[test]
    fn forks_are_independent_of_order() {
        let root = Rng::new(1);
        let mut a1 = root.fork(1);
        let _ = root.fork(2);
        let mut a2 = root.fork(1);
        assert_eq!(a1.next_u64(), a2.next_u64());
        assert_ne!(root.fork(1).next_u64(), root.fork(2).next_u64());
    }
}
