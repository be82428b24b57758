//! Publication: turns a cell's estimates and scores into the scoreboard row's values
//! ([`RowValues`], the scoreboard row of shm/LAYOUT.md) and hands them to a [`RowSink`]: the shared-memory
//! writer in production, [`MemorySink`] in tests.
use crate::kpi::{Estimates, HorizonEstimates, RowKey};
use crate::score::{MAX_PROFILES, N_WEIGHTS};

/// The row a sink receives is the scoreboard's own row type: the engine, the shared-memory
/// writer and every reader share one definition and one word packer (shm/LAYOUT.md).
pub use lpscore_shm::ScoreRow as RowValues;
pub use lpscore_shm::{
    FLAG_HAS_DATA, FLAG_LP_PAUSED as FLAG_PAUSED, FLAG_NO_PRICE as FLAG_PRICE_UNAVAILABLE,
};

/// Bit-for-bit equality of two rows (a NaN score equals itself): the replay property.
pub trait BitsEq {
    /// True when both rows pack to the same 15 words.
    fn bits_eq(&self, o: &Self) -> bool;
}

impl BitsEq for RowValues {
    fn bits_eq(&self, o: &Self) -> bool {
        self.to_words() == o.to_words()
    }
}

/// Turns a cell's estimates and the profile scores into a row: horizon `h` for the impact,
/// markout and realized-spread fields, counts saturated to `u32`.
#[allow(clippy::too_many_arguments)]
pub fn build_row(
    publish_ns: u64,
    e: &Estimates,
    h: usize,
    scores: &[f64; MAX_PROFILES],
    paused: bool,
    n_orders: u64,
    n_fills: u64,
    n_price_skipped: u64,
) -> RowValues {
    let hz = HorizonEstimates::of(e, h);
    build_row_parts(
        publish_ns,
        e,
        &hz,
        scores,
        paused,
        n_orders,
        n_fills,
        n_price_skipped,
    )
}

/// [`build_row`] with the horizon's figures apart (the publication path's form:
/// [`crate::kpi::CellRef::estimate_row_parts`]).
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn build_row_parts(
    publish_ns: u64,
    e: &Estimates,
    hz: &HorizonEstimates,
    scores: &[f64; MAX_PROFILES],
    paused: bool,
    n_orders: u64,
    n_fills: u64,
    n_price_skipped: u64,
) -> RowValues {
    let sat = |x: u64| u32::try_from(x).unwrap_or(u32::MAX);
    let mut flags = 0;
    if e.has_data {
        flags |= FLAG_HAS_DATA;
    }
    if paused {
        flags |= FLAG_PAUSED;
    }
    if e.price_unavailable {
        flags |= FLAG_PRICE_UNAVAILABLE;
    }
    let mut s = [f32::NAN; MAX_PROFILES];
    for (o, v) in s.iter_mut().zip(scores) {
        *o = *v as f32;
    }
    RowValues {
        publish_ns,
        eff_orders: e.eff_orders as f32,
        eff_fills: e.eff_fills as f32,
        fill_rate: e.fill_rate as f32,
        reject_rate: e.reject_rate as f32,
        pi_bps: e.pi_bps as f32,
        es_bps: e.es_bps as f32,
        impact_bps: hz.impact_bps as f32,
        markout_bps: hz.markout_bps as f32,
        ack_p50_ns: sat(e.ack_p50_ns),
        ack_p99_ns: sat(e.ack_p99_ns),
        fill_p50_ns: sat(e.fill_p50_ns),
        flags,
        scores: s,
        pi_rate: e.pi_rate as f32,
        eq_ratio: e.eq_ratio as f32,
        cancel_reject_rate: e.cancel_reject_rate as f32,
        realized_spread_bps: hz.rs_bps as f32,
        n_orders: sat(n_orders),
        n_fills: sat(n_fills),
        n_price_skipped: sat(n_price_skipped),
    }
}

/// Where rows go. Every method but `publish` has a no-op default.
pub trait RowSink {
    /// A row changed.
    fn publish(&mut self, key: RowKey, row: &RowValues);
    /// An LP got index `lp`.
    fn register_lp(&mut self, _lp: u16, _name: &[u8]) {}
    /// A symbol got slot `slot`.
    fn register_symbol(&mut self, _slot: u32, _name: &[u8]) {}
    /// Profile `idx`'s name and weights (sent at start and on every change).
    fn set_profile(&mut self, _idx: u8, _name: &[u8], _weights: &[f64; N_WEIGHTS]) {}
    /// The engine is alive (called at least every heartbeat interval while it is ticked).
    fn heartbeat(&mut self, _now_ns: u64) {}
    /// LP `lp`'s scoring was paused or resumed (the scoreboard's LP directory carries it).
    fn set_lp_paused(&mut self, _lp: u16, _paused: bool) {}
    /// `key` will be published soon: a sink that writes memory may ask for its lines now.
    #[inline]
    fn prefetch(&self, _key: RowKey) {}
}

impl<S: RowSink + ?Sized> RowSink for &mut S {
    fn publish(&mut self, key: RowKey, row: &RowValues) {
        (**self).publish(key, row)
    }
    fn register_lp(&mut self, lp: u16, name: &[u8]) {
        (**self).register_lp(lp, name)
    }
    fn register_symbol(&mut self, slot: u32, name: &[u8]) {
        (**self).register_symbol(slot, name)
    }
    fn set_profile(&mut self, idx: u8, name: &[u8], weights: &[f64; N_WEIGHTS]) {
        (**self).set_profile(idx, name, weights)
    }
    fn heartbeat(&mut self, now_ns: u64) {
        (**self).heartbeat(now_ns)
    }
    fn set_lp_paused(&mut self, lp: u16, paused: bool) {
        (**self).set_lp_paused(lp, paused)
    }
    #[inline]
    fn prefetch(&self, key: RowKey) {
        (**self).prefetch(key)
    }
}

/// A sink that drops everything (benchmarks of the engine alone).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl RowSink for NullSink {
    #[inline]
    fn publish(&mut self, key: RowKey, row: &RowValues) {
        // The row escapes: with an empty body the compiler deleted the work that only feeds the
        // row (a benchmark of "everything but the shared-memory write" measured much less).
        std::hint::black_box((key, row));
    }
}

/// A sink that keeps every publication in memory, for tests.
#[derive(Debug, Default, Clone)]
pub struct MemorySink {
    /// Every publication, in order.
    pub log: Vec<(RowKey, RowValues)>,
    /// LP registrations.
    pub lps: Vec<(u16, Vec<u8>)>,
    /// Symbol registrations.
    pub symbols: Vec<(u32, Vec<u8>)>,
    /// Profile updates.
    pub profiles: Vec<(u8, Vec<u8>, [f64; N_WEIGHTS])>,
    /// Heartbeats.
    pub heartbeats: Vec<u64>,
}

impl MemorySink {
    /// The latest row published for `key`.
    pub fn latest(&self, key: RowKey) -> Option<&RowValues> {
        self.log
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, r)| r)
    }
}

impl RowSink for MemorySink {
    fn publish(&mut self, key: RowKey, row: &RowValues) {
        self.log.push((key, *row));
    }
    fn register_lp(&mut self, lp: u16, name: &[u8]) {
        self.lps.push((lp, name.to_vec()));
    }
    fn register_symbol(&mut self, slot: u32, name: &[u8]) {
        self.symbols.push((slot, name.to_vec()));
    }
    fn set_profile(&mut self, idx: u8, name: &[u8], weights: &[f64; N_WEIGHTS]) {
        self.profiles.push((idx, name.to_vec(), *weights));
    }
    fn heartbeat(&mut self, now_ns: u64) {
        self.heartbeats.push(now_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_follow_the_layout() {
        let r = RowValues {
            publish_ns: 7,
            eff_orders: 1.0,
            eff_fills: 2.0,
            ack_p50_ns: 3,
            ack_p99_ns: 4,
            fill_p50_ns: 5,
            flags: FLAG_HAS_DATA | FLAG_PRICE_UNAVAILABLE,
            n_orders: 9,
            n_fills: 10,
            n_price_skipped: 11,
            ..Default::default()
        };
        let w = r.to_words();
        assert_eq!(w[0], 7);
        assert_eq!(
            w[1],
            u64::from(1.0f32.to_bits()) | (u64::from(2.0f32.to_bits()) << 32)
        );
        assert_eq!(w[5], 3 | (4 << 32));
        assert_eq!(w[6], 5 | (5 << 32));
        assert_eq!(w[13], 9 | (10 << 32));
        assert_eq!(w[14], 11);
        assert!(r.bits_eq(&r));
    }

    #[test]
    fn horizon_figures_apart_give_the_same_row() {
        // Every horizon different, so a field read from the wrong horizon (or the wrong one of
        // the three figures) shows.
        let e = Estimates {
            fill_rate: 0.5,
            pi_bps: 1.25,
            ..Default::default()
        };
        let e = HorizonEstimates::distinct_in(e);
        let sc = [42.0; MAX_PROFILES];
        for h in 0..e.markout_bps.len() {
            let hz = HorizonEstimates::of(&e, h);
            let a = build_row(9, &e, h, &sc, false, 1, 2, 3);
            let b = build_row_parts(9, &e, &hz, &sc, false, 1, 2, 3);
            assert!(a.bits_eq(&b), "horizon {h}");
            assert_eq!(b.markout_bps, hz.markout_bps as f32);
            assert_eq!(b.impact_bps, hz.impact_bps as f32);
            assert_eq!(b.realized_spread_bps, hz.rs_bps as f32);
        }
    }

    #[test]
    fn build_saturates_and_flags() {
        let e = Estimates {
            has_data: true,
            ack_p99_ns: u64::MAX,
            ..Default::default()
        };
        let mut sc = [f64::NAN; MAX_PROFILES];
        sc[0] = 50.0;
        let r = build_row(1, &e, 0, &sc, true, u64::MAX, 3, 0);
        assert_eq!(r.ack_p99_ns, u32::MAX);
        assert_eq!(r.n_orders, u32::MAX);
        assert_eq!(r.flags, FLAG_HAS_DATA | FLAG_PAUSED);
        assert_eq!(r.scores[0], 50.0);
        assert!(r.scores[1].is_nan());
    }
}
