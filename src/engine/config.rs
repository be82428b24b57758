//! Engine configuration (serde, every field with a default; see docs/kpis.md for the rationale).
use crate::kpi::{MAX_HORIZONS, SizeBuckets, formulas::RULE605_EDGES_USD};
use crate::score::{
    MAX_PROFILES, ProfileConfig, Transforms, WEIGHT_NAMES, check_profile_name, check_weights,
    default_profiles,
};
use serde::Deserialize;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

/// Which timestamp is an order's arrival time `t_a`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ArrivalTime {
    /// The appliance's capture timestamp of the NewOrderSingle.
    #[default]
    Capture,
    /// TransactTime (60), else the capture timestamp.
    TransactTime,
    /// SendingTime (52), else the capture timestamp.
    SendingTime,
}

/// Unit of the size buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BucketUnit {
    /// Order notional `qty * m_a` in whole currency units.
    #[default]
    Notional,
    /// Shares.
    Shares,
}

/// Size buckets.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BucketConfig {
    /// Unit.
    pub unit: BucketUnit,
    /// Upper edges (exclusive) of every bucket but the last; at most 7.
    pub edges: Vec<u64>,
}

impl Default for BucketConfig {
    fn default() -> Self {
        Self {
            unit: BucketUnit::Notional,
            edges: RULE605_EDGES_USD.to_vec(),
        }
    }
}

/// A raw identifier -> LP name mapping entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LpMapEntry {
    /// Raw value as found in ExDestination (100), the counterparty CompID, or LastMkt (30).
    pub raw: String,
    /// LP name.
    pub lp: String,
}

/// Everything the engine needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// LPs (1..=256).
    pub max_lps: u16,
    /// Symbols (1..=1<<20).
    pub max_symbols: u32,
    /// Statistics cells created at most (each about 2 KiB, allocated on first use).
    pub max_cells: usize,
    /// Cells whose storage is made resident at start (capped at `max_cells`; 0: none). A cell
    /// created later first writes a page nobody has written: with transparent huge pages that
    /// zeroes 2 MiB inside the event that creates it (milliseconds on a virtual machine whose
    /// host backs memory on first touch). Each costs about 2 KiB of memory up front.
    pub prefault_cells: usize,
    /// Also maintain the (all symbols, one size bucket) rows. The product's dimensions are
    /// LP x symbol x bucket, LP x symbol and LP x all symbols; these extra rows cost a quarter of
    /// the per-event statistics work, so they are off by default.
    pub bucket_totals: bool,
    /// Orders held (open plus recently ended); when full the oldest ended one is retired, else the
    /// oldest open one is expired (counted).
    pub max_orders: usize,
    /// How long an ended order is kept for late reports (fills after cancel, busts), ns.
    pub linger_ns: u64,
    /// ExecIDs remembered for de-duplication.
    pub dedup_window: usize,
    /// Execution reports held while their order is unknown.
    pub early_buffer: usize,
    /// How long such a report waits for its order, ns.
    pub early_ttl_ns: u64,
    /// Fills remembered (busts, corrections, pending markouts).
    pub fill_ring: usize,
    /// Pending markouts per horizon.
    pub markout_queue: usize,
    /// Markout horizons, ns (1..=8).
    pub horizons_ns: Vec<u64>,
    /// The horizon used for the row's impact/markout/realized spread and the score (one of
    /// `horizons_ns`).
    pub score_horizon_ns: u64,
    /// Fast half-life, ns.
    pub fast_half_life_ns: u64,
    /// Slow half-life, ns.
    pub slow_half_life_ns: u64,
    /// Strength of the pool prior, in observations.
    pub prior_strength: f64,
    /// Strength of the slow estimate on the fast one, in observations.
    pub fast_shrink: f64,
    /// How often the pool prior is recomputed from the LPs' slow sums, ns of event time
    /// (0: never; the built-in priors stay).
    pub prior_refresh_ns: u64,
    /// A book quote older than this is stale for arrival NBBO, ns (0: never stale).
    pub stale_quote_ns: u64,
    /// Changed rows are published at most this long after the change, ns of event time
    /// (0: after every event).
    pub publish_interval_ns: u64,
    /// Heartbeat at least this often while ticked, ns.
    pub heartbeat_interval_ns: u64,
    /// Size buckets.
    pub buckets: BucketConfig,
    /// Arrival time source.
    pub arrival_time: ArrivalTime,
    /// LPs registered at start, in index order.
    pub lps: Vec<String>,
    /// Raw identifier -> LP.
    pub lp_map: Vec<LpMapEntry>,
    /// Unmapped raw identifiers become LPs of that name.
    pub auto_register_lps: bool,
    /// Scoring profiles (1..=8).
    pub profiles: Vec<ProfileConfig>,
    /// Transform scales.
    pub transforms: Transforms,
    /// Control command queue capacity.
    pub command_queue: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_lps: 64,
            max_symbols: 4096,
            max_cells: 1 << 18,
            prefault_cells: 0,
            bucket_totals: false,
            max_orders: 1 << 18,
            linger_ns: 65 * SEC,
            dedup_window: 1 << 18,
            early_buffer: 1024,
            early_ttl_ns: 500 * MS,
            fill_ring: 1 << 18,
            markout_queue: 1 << 18,
            horizons_ns: vec![100 * MS, SEC, 15 * SEC, 60 * SEC],
            score_horizon_ns: SEC,
            fast_half_life_ns: 60 * SEC,
            slow_half_life_ns: 86_400 * SEC,
            prior_strength: 5.0,
            fast_shrink: 5.0,
            prior_refresh_ns: 900 * SEC,
            stale_quote_ns: 5 * SEC,
            publish_interval_ns: MS,
            heartbeat_interval_ns: 50 * MS,
            buckets: BucketConfig::default(),
            arrival_time: ArrivalTime::Capture,
            lps: Vec::new(),
            lp_map: Vec::new(),
            auto_register_lps: true,
            profiles: default_profiles(),
            transforms: Transforms::default(),
            command_queue: 64,
        }
    }
}

/// A configuration the engine refuses, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub &'static str);

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "engine configuration: {}", self.0)
    }
}
impl std::error::Error for ConfigError {}

impl EngineConfig {
    /// Parses TOML.
    pub fn from_toml(s: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(s)
    }

    /// Checks limits and consistency.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=256).contains(&self.max_lps) {
            return Err(ConfigError("max_lps must be 1..=256"));
        }
        if !(1..=1 << 20).contains(&self.max_symbols) {
            return Err(ConfigError("max_symbols must be 1..=1048576"));
        }
        if self.horizons_ns.is_empty() || self.horizons_ns.len() > MAX_HORIZONS {
            return Err(ConfigError("horizons_ns must have 1..=8 entries"));
        }
        if !self.horizons_ns.contains(&self.score_horizon_ns) {
            return Err(ConfigError("score_horizon_ns must be one of horizons_ns"));
        }
        if self.buckets.edges.len() > 7 || self.buckets.edges.windows(2).any(|w| w[0] >= w[1]) {
            return Err(ConfigError("buckets.edges: at most 7, strictly increasing"));
        }
        if self.fast_half_life_ns == 0 || self.slow_half_life_ns == 0 {
            return Err(ConfigError("half-lives must be positive"));
        }
        if self.profiles.is_empty() || self.profiles.len() > MAX_PROFILES {
            return Err(ConfigError("profiles: 1..=8"));
        }
        if !(self.prior_strength >= 0.0 && self.fast_shrink >= 0.0) {
            return Err(ConfigError("prior_strength and fast_shrink must be >= 0"));
        }
        let t = &self.transforms;
        if [
            t.latency_half_ns,
            t.pi_scale_bps,
            t.impact_scale_bps,
            t.es_scale_bps,
            t.markout_scale_bps,
        ]
        .iter()
        .any(|x| !(x.is_finite() && *x > 0.0))
        {
            return Err(ConfigError("transform scales must be positive"));
        }
        if self.max_orders == 0 || self.max_cells == 0 {
            return Err(ConfigError("max_orders and max_cells must be positive"));
        }
        Ok(())
    }

    /// [`EngineConfig::validate`] naming the field (relative to the engine table, e.g.
    /// `buckets.edges` or `profiles[1].name`) and saying what to change.
    pub fn check(&self) -> Result<(), (String, String)> {
        let e = |f: &str, m: String| Err((f.to_string(), m));
        if !(1..=256).contains(&self.max_lps) {
            return e("max_lps", format!("{} is not in 1..=256", self.max_lps));
        }
        if !(1..=1 << 20).contains(&self.max_symbols) {
            return e(
                "max_symbols",
                format!("{} is not in 1..=1048576", self.max_symbols),
            );
        }
        if self.horizons_ns.is_empty() || self.horizons_ns.len() > MAX_HORIZONS {
            return e(
                "horizons_ns",
                format!("{} horizons: give 1 to 8", self.horizons_ns.len()),
            );
        }
        if let Some(i) = self.horizons_ns.iter().position(|h| *h == 0) {
            return e(
                &format!("horizons_ns[{i}]"),
                "a horizon must be positive".into(),
            );
        }
        if !self.horizons_ns.contains(&self.score_horizon_ns) {
            return e(
                "score_horizon_ns",
                format!(
                    "{} is not one of horizons_ns {:?}",
                    self.score_horizon_ns, self.horizons_ns
                ),
            );
        }
        let edges = &self.buckets.edges;
        if edges.len() > 7 {
            return e(
                "buckets.edges",
                format!("{} edges: at most 7 (8 buckets)", edges.len()),
            );
        }
        if let Some(i) = edges.windows(2).position(|w| w[0] >= w[1]) {
            return e(
                "buckets.edges",
                format!(
                    "edges must be strictly increasing (buckets may not overlap): {} then {} at \
                     positions {i} and {}",
                    edges[i],
                    edges[i + 1],
                    i + 1
                ),
            );
        }
        if edges.first() == Some(&0) {
            return e(
                "buckets.edges",
                "the first edge must be positive (the first bucket would be empty)".into(),
            );
        }
        if self.fast_half_life_ns == 0 {
            return e("fast_half_life_ns", "must be positive".into());
        }
        if self.slow_half_life_ns == 0 {
            return e("slow_half_life_ns", "must be positive".into());
        }
        if self.profiles.is_empty() || self.profiles.len() > MAX_PROFILES {
            return e(
                "profiles",
                format!("{} profiles: give 1 to 8", self.profiles.len()),
            );
        }
        for (i, p) in self.profiles.iter().enumerate() {
            if let Err(m) = check_profile_name(&p.name) {
                return e(&format!("profiles[{i}].name"), format!("{:?}: {m}", p.name));
            }
            if let Some(j) = self.profiles[..i].iter().position(|q| q.name == p.name) {
                return e(
                    &format!("profiles[{i}].name"),
                    format!("{:?} is also the name of profiles[{j}]", p.name),
                );
            }
            let w = p.weights.to_slots();
            for (k, name) in WEIGHT_NAMES.iter().enumerate() {
                if !(w[k].is_finite() && w[k] >= 0.0) {
                    return e(
                        &format!("profiles[{i}].{name}"),
                        format!("{} is not a finite non-negative number", w[k]),
                    );
                }
            }
            if check_weights(&w).is_err() {
                return e(
                    &format!("profiles[{i}]"),
                    "every weight is 0: give at least one positive weight".into(),
                );
            }
        }
        if !(self.prior_strength.is_finite() && self.prior_strength >= 0.0) {
            return e("prior_strength", "must be >= 0".into());
        }
        if !(self.fast_shrink.is_finite() && self.fast_shrink >= 0.0) {
            return e("fast_shrink", "must be >= 0".into());
        }
        let t = &self.transforms;
        for (name, x) in [
            ("latency_half_ns", t.latency_half_ns),
            ("pi_scale_bps", t.pi_scale_bps),
            ("impact_scale_bps", t.impact_scale_bps),
            ("es_scale_bps", t.es_scale_bps),
            ("markout_scale_bps", t.markout_scale_bps),
        ] {
            if !(x.is_finite() && x > 0.0) {
                return e(
                    &format!("transforms.{name}"),
                    format!("{x} must be positive"),
                );
            }
        }
        if self.max_orders == 0 {
            return e("max_orders", "must be positive".into());
        }
        if self.max_cells == 0 {
            return e("max_cells", "must be positive".into());
        }
        if self.command_queue == 0 {
            return e("command_queue", "must be positive".into());
        }
        if let Some(i) = self.lps.iter().position(|l| l.is_empty() || l.len() > 16) {
            return e(&format!("lps[{i}]"), "an LP name is 1 to 16 bytes".into());
        }
        if self.lps.len() > self.max_lps as usize {
            return e(
                "lps",
                format!("{} LPs but max_lps is {}", self.lps.len(), self.max_lps),
            );
        }
        if let Some(i) = self
            .lps
            .iter()
            .enumerate()
            .position(|(i, l)| self.lps[..i].contains(l))
        {
            return e(
                &format!("lps[{i}]"),
                format!("{:?} is listed twice", self.lps[i]),
            );
        }
        for (i, m) in self.lp_map.iter().enumerate() {
            if m.raw.is_empty() {
                return e(&format!("lp_map[{i}].raw"), "must not be empty".into());
            }
            if m.lp.is_empty() || m.lp.len() > 16 {
                return e(
                    &format!("lp_map[{i}].lp"),
                    "an LP name is 1 to 16 bytes".into(),
                );
            }
            if let Some(k) = self.lp_map[..i].iter().position(|o| o.raw == m.raw) {
                return e(
                    &format!("lp_map[{i}].raw"),
                    format!("{:?} is already mapped by lp_map[{k}]", m.raw),
                );
            }
        }
        Ok(())
    }

    /// The size buckets.
    pub fn size_buckets(&self) -> SizeBuckets {
        SizeBuckets {
            by_shares: self.buckets.unit == BucketUnit::Shares,
            edges: self.buckets.edges.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_toml_overrides() {
        EngineConfig::default().validate().unwrap();
        let c = EngineConfig::from_toml(
            r#"
            max_lps = 20
            horizons_ns = [1000000, 2000000]
            score_horizon_ns = 2000000
            lp_map = [{ raw = "GW1", lp = "LP_A" }]
            [buckets]
            unit = "shares"
            edges = [100, 1000]
            [[profiles]]
            name = "Custom"
            latency = 0.5
            reject_rate = 0.25
            markout = 0.25
            "#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.max_lps, 20);
        assert_eq!(c.profiles[0].weights.reject_rate, 0.25);
        assert!(c.size_buckets().by_shares);
        assert_eq!(c.fast_half_life_ns, 60 * SEC);
        let mut bad = c.clone();
        bad.score_horizon_ns = 5;
        assert!(bad.validate().is_err());
        assert!(EngineConfig::from_toml("nonsense = 1").is_err());
    }
}
