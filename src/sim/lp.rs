//! Simulated liquidity providers: each answers child orders the way its behaviour model says.
//!
//! A child order meets its LP in two steps, as on a real venue:
//! 1. `respond`: after the ack latency the LP rejects the order or acknowledges it;
//! 2. `execute`: after the fill latency it fills some of it (size-dependent), rejects it on last
//!    look if the market moved against the LP meanwhile, or lets it expire unfilled (IOC).
//!
//! Fills leak: the mid drifts in the order's direction afterwards, in proportion to the size.

use serde::Deserialize;

use super::market::Quote;
use super::rng::Rng;

/// Buy or sell, from the order sender's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    /// +1 for a buy, -1 for a sell (the `s` of kpis.md).
    pub fn sign(self) -> f64 {
        match self {
            Side::Buy => 1.0,
            Side::Sell => -1.0,
        }
    }
}

/// A log-normal latency distribution, in milliseconds.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyMs {
    pub median: f64,
    pub sigma: f64,
}

/// A change of behaviour at a scripted time: "LP_A's fill rate halves and latency triples at
/// t = 5 min" is `{ at_s = 300, fill_prob_mult = 0.5, latency_mult = 3.0 }`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Degradation {
    pub at_s: f64,
    #[serde(default = "one")]
    pub fill_prob_mult: f64,
    #[serde(default = "one")]
    pub latency_mult: f64,
    #[serde(default = "one")]
    pub depth_mult: f64,
    #[serde(default)]
    pub reject_prob_add: f64,
}

fn one() -> f64 {
    1.0
}

/// One LP's behaviour model, as configured (see `config/lps.toml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LpConfig {
    pub name: String,
    /// What kind of venue, for the reader: bank, market maker, exchange, dark pool.
    #[serde(default)]
    pub kind: String,
    pub ack_ms: LatencyMs,
    /// From the ack to the fill.
    pub fill_ms: LatencyMs,
    /// Probability that an order of `depth` shares or less gets any fill.
    pub fill_prob: f64,
    /// Shares typically available per order: larger orders fill partially, and are less likely
    /// to fill at all (`fill_prob * min(1, depth / qty)^size_penalty`).
    pub depth: f64,
    #[serde(default = "one")]
    pub size_penalty: f64,
    /// Probability of an outright reject at ack time.
    pub reject_prob: f64,
    /// Price improvement against the touch, bps: mean and standard deviation.
    pub pi_bps_mean: f64,
    #[serde(default)]
    pub pi_bps_sd: f64,
    /// Last look: reject at fill time when the mid moved this many bps against the LP since the
    /// order arrived. Absent: no last look.
    #[serde(default)]
    pub last_look_bps: Option<f64>,
    /// Information leakage: after a fill the mid drifts in the order's direction by this many bps
    /// per 10 000 shares filled, over `leakage_ms`.
    #[serde(default)]
    pub leakage_bps_per_10k: f64,
    #[serde(default = "default_leakage_ms")]
    pub leakage_ms: f64,
    #[serde(default)]
    pub events: Vec<Degradation>,
}

fn default_leakage_ms() -> f64 {
    2_000.0
}

/// What the LP does at ack time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Response {
    Reject,
    Ack,
}

/// What the LP does at fill time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Execution {
    /// A fill of `qty` at `px`; the rest of the IOC order expires.
    Fill { qty: u64, px: f64 },
    /// Last look: the market moved against the LP, so the order is rejected.
    LastLookReject,
    /// Nothing available: the IOC order expires unfilled.
    NoFill,
}

/// An LP in a running simulation.
#[derive(Clone, Debug)]
pub struct SimLp {
    cfg: LpConfig,
    rng: Rng,
    start_ns: u64,
}

/// Behaviour in force at one instant, after the scripted events so far.
#[derive(Clone, Copy, Debug)]
struct Effective {
    fill_prob: f64,
    latency_mult: f64,
    depth: f64,
    reject_prob: f64,
}

impl SimLp {
    pub fn new(cfg: LpConfig, rng: Rng, start_ns: u64) -> Self {
        Self { cfg, rng, start_ns }
    }

    pub fn config(&self) -> &LpConfig {
        &self.cfg
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    fn effective(&self, now_ns: u64) -> Effective {
        let elapsed_s = now_ns.saturating_sub(self.start_ns) as f64 * 1e-9;
        let mut e = Effective {
            fill_prob: self.cfg.fill_prob,
            latency_mult: 1.0,
            depth: self.cfg.depth,
            reject_prob: self.cfg.reject_prob,
        };
        for ev in self.cfg.events.iter().filter(|ev| ev.at_s <= elapsed_s) {
            e.fill_prob *= ev.fill_prob_mult;
            e.latency_mult *= ev.latency_mult;
            e.depth *= ev.depth_mult;
            e.reject_prob += ev.reject_prob_add;
        }
        e
    }

    fn latency_ns(&mut self, d: LatencyMs, mult: f64) -> u64 {
        let ms = self.rng.lognormal(d.median, d.sigma) * mult;
        (ms * 1e6).max(1_000.0) as u64
    }

    /// The ack latency for an order arriving at `now_ns`, and the LP's answer then.
    pub fn respond(&mut self, now_ns: u64) -> (u64, Response) {
        let e = self.effective(now_ns);
        let lat = self.latency_ns(self.cfg.ack_ms, e.latency_mult);
        let r = if self.rng.chance(e.reject_prob) {
            Response::Reject
        } else {
            Response::Ack
        };
        (lat, r)
    }

    /// The time from ack to execution for an order acked at `now_ns`.
    pub fn fill_delay(&mut self, now_ns: u64) -> u64 {
        let e = self.effective(now_ns);
        self.latency_ns(self.cfg.fill_ms, e.latency_mult)
    }

    /// Executes `qty` shares of `side` at `now_ns`, given the NBBO when the order arrived and now.
    pub fn execute(
        &mut self,
        now_ns: u64,
        side: Side,
        qty: u64,
        arrival: Quote,
        current: Quote,
        tick: f64,
    ) -> Execution {
        let e = self.effective(now_ns);
        if let Some(limit) = self.cfg.last_look_bps {
            // The LP takes the other side: a move in the order's favour is against the LP.
            let moved_bps = side.sign() * (current.mid - arrival.mid) / arrival.mid * 1e4;
            if moved_bps > limit {
                return Execution::LastLookReject;
            }
        }
        let q = qty as f64;
        let p = e.fill_prob * (e.depth / q).min(1.0).powf(self.cfg.size_penalty);
        if !self.rng.chance(p) {
            return Execution::NoFill;
        }
        let avail = e.depth * self.rng.lognormal(1.0, 0.3);
        let lots = (avail.min(q) / 100.0).floor() as u64;
        let fill = (lots * 100).clamp(100.min(qty), qty);
        let pi_bps = self.cfg.pi_bps_mean + self.cfg.pi_bps_sd * self.rng.normal();
        let touch = match side {
            Side::Buy => current.ask,
            Side::Sell => current.bid,
        };
        // PI = s * (touch - p) / m * 1e4, so p = touch - s * PI * m / 1e4; quoted on a 1/100 tick.
        let raw = touch - side.sign() * pi_bps * current.mid * 1e-4;
        let sub = tick / 100.0;
        let px = (raw / sub).round() * sub;
        Execution::Fill { qty: fill, px }
    }

    /// The drift (signed bps, over how long) that a fill of `qty` pushes into the mid.
    pub fn leakage(&self, side: Side, qty: u64) -> (f64, u64) {
        let bps = side.sign() * self.cfg.leakage_bps_per_10k * qty as f64 / 10_000.0;
        (bps, (self.cfg.leakage_ms * 1e6) as u64)
    }
}

/// The LPs of a simulation file: `[[lp]]` tables.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LpsFile {
    pub market: super::market::MarketConfig,
    pub lp: Vec<LpConfig>,
}

impl LpsFile {
    /// The default file, the seed's four LPs.
    pub const DEFAULT: &'static str = include_str!("../../config/lps.toml");

    /// Parses and checks an LP file; errors name the field.
    pub fn parse(text: &str) -> Result<Self, String> {
        let f: LpsFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if f.lp.is_empty() {
            return Err("no [[lp]] defined".into());
        }
        for lp in &f.lp {
            let check = |what: &str, v: f64, lo: f64, hi: f64| {
                if v.is_finite() && (lo..=hi).contains(&v) {
                    Ok(())
                } else {
                    Err(format!(
                        "lp {}: {what} = {v} is outside [{lo}, {hi}]",
                        lp.name
                    ))
                }
            };
            check("fill_prob", lp.fill_prob, 0.0, 1.0)?;
            check("reject_prob", lp.reject_prob, 0.0, 1.0)?;
            check("depth", lp.depth, 1.0, 1e12)?;
            check("ack_ms.median", lp.ack_ms.median, 0.0, 1e6)?;
            check("fill_ms.median", lp.fill_ms.median, 0.0, 1e6)?;
            if lp.name.is_empty() || lp.name.len() > 16 {
                return Err(format!("lp name {:?} must be 1..=16 bytes", lp.name));
            }
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(mid: f64) -> Quote {
        Quote {
            bid: mid - 0.01,
            ask: mid + 0.01,
            mid,
        }
    }

    #[test]
    fn default_file_parses_with_the_seeds_four_lps() {
        let f = LpsFile::parse(LpsFile::DEFAULT).unwrap();
        let names: Vec<_> = f.lp.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["LP_A", "LP_B", "LP_C", "LP_D"]);
    }

    #[test]
    fn bad_file_names_the_problem() {
        let bad = LpsFile::DEFAULT.replacen("fill_prob = 0.98", "fill_prob = 1.5", 1);
        let err = LpsFile::parse(&bad).unwrap_err();
        assert!(err.contains("fill_prob"), "{err}");
        let err = LpsFile::parse("[market]\nbogus = 1").unwrap_err();
        assert!(err.contains("bogus") || err.contains("unknown"), "{err}");
    }

    #[test]
    fn fill_price_carries_the_configured_improvement() {
        let mut cfg = LpsFile::parse(LpsFile::DEFAULT).unwrap().lp[0].clone();
        cfg.fill_prob = 1.0;
        cfg.pi_bps_mean = 2.0;
        cfg.pi_bps_sd = 0.0;
        cfg.last_look_bps = None;
        let mut lp = SimLp::new(cfg, Rng::new(5), 0);
        let q = quote(50.0);
        match lp.execute(1, Side::Sell, 100, q, q, 0.01) {
            // A sell fills above the bid: 49.99 + 2 bps of 50 = 49.9999 -> 50.00 on the 1/100 tick.
            Execution::Fill { qty, px } => {
                assert_eq!(qty, 100);
                assert!((px - 50.0).abs() < 1e-9, "{px}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn last_look_rejects_only_moves_against_the_lp() {
        let mut cfg = LpsFile::parse(LpsFile::DEFAULT).unwrap().lp[0].clone();
        cfg.fill_prob = 1.0;
        cfg.last_look_bps = Some(1.0);
        let mut lp = SimLp::new(cfg, Rng::new(5), 0);
        // The LP takes the other side of a sell: a falling mid is against it.
        let then = quote(50.0);
        let fell = quote(49.98);
        assert_eq!(
            lp.execute(1, Side::Sell, 100, then, fell, 0.01),
            Execution::LastLookReject
        );
        let rose = quote(50.02);
        assert!(matches!(
            lp.execute(1, Side::Sell, 100, then, rose, 0.01),
            Execution::Fill { .. }
        ));
    }

    #[test]
    fn degradation_applies_from_its_time() {
        let cfg = LpsFile::parse(LpsFile::DEFAULT).unwrap().lp[0].clone();
        assert!(!cfg.events.is_empty(), "LP_A degrades in the default file");
        let lp = SimLp::new(cfg.clone(), Rng::new(1), 0);
        let ev = cfg.events[0];
        let before = lp.effective(((ev.at_s - 1.0) * 1e9) as u64);
        let after = lp.effective(((ev.at_s + 1.0) * 1e9) as u64);
        assert_eq!(before.fill_prob, cfg.fill_prob);
        assert!((after.fill_prob - cfg.fill_prob * ev.fill_prob_mult).abs() < 1e-12);
        assert!((after.latency_mult - ev.latency_mult).abs() < 1e-12);
    }
}
