//! Threads, wiring and the clock seam.
pub mod clock;
pub mod config;
pub mod group;
pub mod ingest;
pub mod logs;
pub mod signals;

pub use config::{Backend, RuntimeConfig};
pub use group::{Control, GroupOptions, GroupReport, HotGroup, StartError, spawn_group};
pub use ingest::{GroupStats, HotSink, Ingest, StatsSnapshot};
