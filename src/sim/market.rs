//! The simulated market: one NBBO per symbol, a random walk on the mid, plus the drift that
//! leaky fills push into it (information leakage is what markouts and market impact measure).

use serde::Deserialize;

use super::rng::Rng;

/// One symbol's market, as configured.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketConfig {
    pub symbol: String,
    /// Starting mid, in currency units.
    pub start_mid: f64,
    /// Quoted spread, bps of the mid (at least one tick).
    pub spread_bps: f64,
    /// Random-walk volatility of the mid, bps per square root of a second.
    pub vol_bps_sqrt_s: f64,
    /// Price increment.
    pub tick: f64,
    /// Average daily volume, shares (scenario sizing and reporting).
    pub adv: u64,
    /// Quote update interval, milliseconds (each update is one market-data message).
    pub quote_interval_ms: f64,
}

/// Top of book at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quote {
    pub bid: f64,
    pub ask: f64,
    pub mid: f64,
}

/// A drift in progress: `total_bps` of the mid spread evenly over `[start_ns, end_ns)`.
#[derive(Clone, Copy, Debug)]
struct Drift {
    start_ns: u64,
    end_ns: u64,
    total_bps: f64,
}

/// The market's state, advanced in event time.
#[derive(Clone, Debug)]
pub struct Market {
    cfg: MarketConfig,
    rng: Rng,
    /// The unperturbed mid (random walk) and the accumulated drift, kept apart so a drift's
    /// effect is exact whatever the step size.
    walk_mid: f64,
    drift_bps: f64,
    drifts: Vec<Drift>,
    now_ns: u64,
    /// The walk steps on a fixed grid (the quote interval), never at event times, so that two
    /// runs with the same seed see the same walk whatever orders they send.
    next_step_ns: u64,
    step_ns: u64,
}

impl Market {
    pub fn new(cfg: MarketConfig, rng: Rng, start_ns: u64) -> Self {
        let step_ns = (cfg.quote_interval_ms * 1e6).max(1.0) as u64;
        Self {
            walk_mid: cfg.start_mid,
            cfg,
            rng,
            drift_bps: 0.0,
            drifts: Vec::new(),
            now_ns: start_ns,
            next_step_ns: start_ns,
            step_ns,
        }
    }

    pub fn config(&self) -> &MarketConfig {
        &self.cfg
    }

    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// Advances to `t_ns` (never backwards): one random-walk step plus the drifts' share.
    pub fn advance(&mut self, t_ns: u64) {
        if t_ns <= self.now_ns {
            return;
        }
        let dt_s = self.step_ns as f64 * 1e-9;
        while self.next_step_ns <= t_ns {
            let step_bps = self.cfg.vol_bps_sqrt_s * dt_s.sqrt() * self.rng.normal();
            self.walk_mid *= 1.0 + step_bps * 1e-4;
            self.next_step_ns += self.step_ns;
        }
        let (from, to) = (self.now_ns, t_ns);
        for d in &self.drifts {
            let lo = from.max(d.start_ns);
            let hi = to.min(d.end_ns);
            if hi > lo {
                self.drift_bps += d.total_bps * (hi - lo) as f64 / (d.end_ns - d.start_ns) as f64;
            }
        }
        self.drifts.retain(|d| d.end_ns > to);
        self.now_ns = t_ns;
    }

    /// Pushes a drift of `total_bps` (signed) into the mid over the next `over_ns`.
    pub fn push_drift(&mut self, total_bps: f64, over_ns: u64) {
        if total_bps == 0.0 {
            return;
        }
        let over_ns = over_ns.max(1);
        self.drifts.push(Drift {
            start_ns: self.now_ns,
            end_ns: self.now_ns + over_ns,
            total_bps,
        });
    }

    /// The NBBO now, on the tick grid; the spread is at least one tick.
    pub fn quote(&self) -> Quote {
        let mid = self.walk_mid * (1.0 + self.drift_bps * 1e-4);
        let tick = self.cfg.tick;
        let half = (mid * self.cfg.spread_bps * 0.5e-4).max(tick * 0.5);
        let bid = ((mid - half) / tick).floor() * tick;
        let mut ask = ((mid + half) / tick).ceil() * tick;
        if ask - bid < tick * 0.5 {
            ask = bid + tick;
        }
        Quote {
            bid,
            ask,
            mid: (bid + ask) * 0.5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(vol: f64) -> MarketConfig {
        MarketConfig {
            symbol: "ACME".into(),
            start_mid: 50.0,
            spread_bps: 4.0,
            vol_bps_sqrt_s: vol,
            tick: 0.01,
            adv: 1_000_000,
            quote_interval_ms: 100.0,
        }
    }

    #[test]
    fn quote_is_on_the_grid_and_not_crossed() {
        let mut m = Market::new(cfg(5.0), Rng::new(3), 0);
        for i in 1..10_000u64 {
            m.advance(i * 1_000_000);
            let q = m.quote();
            assert!(q.ask > q.bid, "{q:?}");
            assert!(((q.bid / 0.01).round() * 0.01 - q.bid).abs() < 1e-9);
            assert!(((q.ask / 0.01).round() * 0.01 - q.ask).abs() < 1e-9);
        }
    }

    #[test]
    fn drift_moves_the_mid_by_exactly_its_total() {
        // No volatility: only the drift moves the mid. 10 bps down over 1 s, stepped unevenly.
        let mut m = Market::new(cfg(0.0), Rng::new(1), 0);
        m.push_drift(-10.0, 1_000_000_000);
        for t in [1u64, 300_000_000, 300_000_001, 999_999_999, 2_000_000_000] {
            m.advance(t);
        }
        let expected = 50.0 * (1.0 - 10.0e-4);
        let q = m.quote();
        assert!(
            (q.mid - expected).abs() < 0.006,
            "mid {} vs {expected}",
            q.mid
        );
        assert!(m.drifts.is_empty());
    }

    #[test]
    fn the_walk_does_not_depend_on_when_it_is_observed() {
        let mut a = Market::new(cfg(5.0), Rng::new(11), 0);
        let mut b = Market::new(cfg(5.0), Rng::new(11), 0);
        for i in 1..=1000u64 {
            a.advance(i * 100_000_000);
        }
        for i in 1..=3000u64 {
            b.advance(i * 33_333_333 + 7);
        }
        a.advance(100_000_000_000);
        b.advance(100_000_000_000);
        assert_eq!(a.quote(), b.quote());
    }
}
