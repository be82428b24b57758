//! The production [`RowSink`]: the shared-memory scoreboard writer of `lpscore-shm`.
use lpscore_shm::{
    BucketSlot, BucketUnit as ShmBucketUnit, Capacities, LpId, ProfileId, SymbolId, SymbolSlot,
    Writer, WriterOptions,
};

use super::config::{BucketUnit, EngineConfig};
use crate::kpi::RowKey;
use crate::publish::{RowSink, RowValues};

/// The scoreboard options that match an engine configuration (capacities, buckets, horizon).
pub fn writer_options(cfg: &EngineConfig) -> WriterOptions {
    let buckets = cfg.size_buckets();
    WriterOptions {
        capacities: Capacities {
            max_lps: u32::from(cfg.max_lps),
            max_symbols: cfg.max_symbols,
            n_buckets: buckets.len() as u32,
            // Room for every profile slot: profiles can be added at run time.
            max_profiles: crate::score::MAX_PROFILES as u32,
        },
        bucket_unit: match cfg.buckets.unit {
            BucketUnit::Notional => ShmBucketUnit::NotionalUsd,
            BucketUnit::Shares => ShmBucketUnit::Shares,
        },
        bucket_upper: buckets.uppers(),
        score_horizon_ns: cfg.score_horizon_ns,
        ..WriterOptions::default()
    }
}

/// Publishes rows into a scoreboard file. Engine LP indices and symbol slots are mapped to the
/// file's (they coincide when the engine is the file's only registrar, but the map makes it
/// robust to a taken-over file).
pub struct ShmSink {
    w: Writer,
    lps: Vec<Option<LpId>>,
    syms: Vec<Option<SymbolId>>,
    max_symbols: u32,
    n_buckets: u8,
    /// Writer errors (bad names, full directories, a stopped writer): counted, never fatal.
    pub errors: u64,
}

impl core::fmt::Debug for ShmSink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ShmSink")
            .field("path", &self.w.path())
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

impl ShmSink {
    /// Wraps a writer created with [`writer_options`] of the same configuration.
    pub fn new(w: Writer, cfg: &EngineConfig) -> Self {
        Self {
            w,
            lps: vec![None; cfg.max_lps as usize],
            syms: Vec::with_capacity(cfg.max_symbols as usize),
            max_symbols: cfg.max_symbols,
            n_buckets: cfg.size_buckets().len() as u8,
            errors: 0,
        }
    }
    /// The writer.
    /// The scoreboard's slots of an engine row key (`None`: an LP or symbol never registered).
    #[inline]
    fn slots(&self, key: RowKey) -> Option<(SymbolSlot, BucketSlot, LpId)> {
        let lp = self.lps.get(key.lp as usize).copied().flatten()?;
        let sym = if key.sym >= self.max_symbols {
            SymbolSlot::All
        } else {
            SymbolSlot::One(self.syms.get(key.sym as usize).copied().flatten()?)
        };
        let bucket = if key.bucket >= self.n_buckets {
            BucketSlot::All
        } else {
            BucketSlot::Bucket(key.bucket)
        };
        Some((sym, bucket, lp))
    }
    pub fn writer(&self) -> &Writer {
        &self.w
    }
    /// The writer, mutably (e.g. to stop it).
    pub fn writer_mut(&mut self) -> &mut Writer {
        &mut self.w
    }
}

impl RowSink for ShmSink {
    #[inline]
    fn publish(&mut self, key: RowKey, row: &RowValues) {
        match self.slots(key) {
            Some((sym, bucket, lp)) if self.w.publish(sym, bucket, lp, row).is_ok() => {}
            _ => self.errors += 1,
        }
    }

    #[inline]
    fn prefetch(&self, key: RowKey) {
        if let Some((sym, bucket, lp)) = self.slots(key) {
            self.w.prefetch(sym, bucket, lp);
        }
    }

    fn register_lp(&mut self, lp: u16, name: &[u8]) {
        let id = core::str::from_utf8(name)
            .ok()
            .and_then(|n| self.w.add_lp(n).ok());
        match (id, self.lps.get_mut(lp as usize)) {
            (Some(id), Some(slot)) => *slot = Some(id),
            _ => self.errors += 1,
        }
    }

    fn register_symbol(&mut self, slot: u32, name: &[u8]) {
        let id = core::str::from_utf8(name)
            .ok()
            .and_then(|n| self.w.add_symbol(n).ok());
        let i = slot as usize;
        if self.syms.len() <= i {
            self.syms.resize(i + 1, None);
        }
        match id {
            Some(id) => self.syms[i] = Some(id),
            None => self.errors += 1,
        }
    }

    fn set_profile(&mut self, idx: u8, name: &[u8], weights: &[f64; 8]) {
        let name = String::from_utf8_lossy(name);
        if self
            .w
            // A removed profile is published with all-zero weights: inactive.
            .set_profile(
                ProfileId::new(idx),
                &name,
                *weights,
                crate::score::check_weights(weights).is_ok(),
            )
            .is_err()
        {
            self.errors += 1;
        }
    }

    fn set_lp_paused(&mut self, lp: u16, paused: bool) {
        let Some(Some(id)) = self.lps.get(lp as usize).copied() else {
            return;
        };
        if self.w.set_lp_paused(id, paused).is_err() {
            self.errors += 1;
        }
    }

    fn heartbeat(&mut self, _now_ns: u64) {
        // The writer stamps CLOCK_MONOTONIC itself (LAYOUT.md: heartbeat_ns is monotonic).
        self.w.heartbeat();
    }
}
