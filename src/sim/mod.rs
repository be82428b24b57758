//! The LP and market simulator: deterministic from a seed, configured from a TOML file.
//!
//! `market` walks an NBBO per symbol, `lp` answers child orders by each LP's behaviour model. The
//! demo (`crate::demo`) drives them in event time and turns what happens into FIX messages, so the
//! engine sees exactly what it would see from a real drop copy.
pub mod lp;
pub mod market;
pub mod rng;
