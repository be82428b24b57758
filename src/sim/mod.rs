//! The LP and market simulator: deterministic from a seed, configured from a TOML file.
//!
//! `market` walks an NBBO per symbol, `lp` answers child orders by each LP's behaviour model,
//! `venue` turns them into FIX messages in event time (the drop copy for the appliance, execution
//! reports and quotes for the SOR) and `net` runs the venue as FIX counterparties over TCP
//! (`lpscore sim`). The in-process demo (`crate::demo::world`) drives `market` and `lp` directly.
pub mod lp;
pub mod market;
pub mod net;
pub mod rng;
pub mod venue;

/// How fast simulated time runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// As fast as the machine goes (not paced).
    Max,
    /// This many simulated seconds per wall-clock second.
    Times(f64),
}

impl std::str::FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "max" {
            return Ok(Speed::Max);
        }
        match s.trim_end_matches('x').parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => Ok(Speed::Times(v)),
            _ => Err(format!(
                "speed must be `max` or a positive number (e.g. 60), not {s:?}"
            )),
        }
    }
}

impl std::fmt::Display for Speed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Speed::Max => f.write_str("max"),
            Speed::Times(x) => write!(f, "{x}"),
        }
    }
}
