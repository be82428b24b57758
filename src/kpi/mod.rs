//! KPI statistics: formulas, decayed sums, histograms, the quote book, the markout queues and the
//! cells (LP x symbol x size bucket, plus the all-sizes and all-symbols aggregates).
// The cells' storage: the one module of `kpi` that allows `unsafe` (typed views of its arenas).
mod arena;
pub mod cell;
pub mod decay;
pub mod formulas;
pub mod hist;
pub mod markout;
pub mod quotes;

use arena::Arena;
pub use cell::{
    Cell, CellHead, CellMut, CellRef, Estimates, EstimatorParams, HorizonEstimates,
    PoolAccumulator, Priors, RowQuantiles, Stamps, ix, shrink,
};
use cell::{QUANT_ACK, QUANT_FILL};
pub use decay::{HalfLife, Stamp};
pub use formulas::{Arrival, PRICE_SCALE, QuoteRelation, SizeBuckets, px, quote_relation};
use hist::HIST_BUCKETS;
pub use markout::{FillRec, MAX_HORIZONS, Markouts};
pub use quotes::{QuoteBook, QuoteSkip, QuoteUpdate};

const NONE: u32 = u32::MAX;

/// Where a row lives in the scoreboard: `(symbol slot, bucket slot, LP)`. Symbol slot
/// `max_symbols` is all symbols; bucket slot `n_buckets` is all sizes (shm/LAYOUT.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    /// Symbol slot (`max_symbols` = all symbols).
    pub sym: u32,
    /// Bucket slot (`n_buckets` = all sizes).
    pub bucket: u8,
    /// LP index.
    pub lp: u16,
}

/// Sums per cell in the sums arena.
const SUMS: usize = ix::N;
/// Histogram bins per cell in the bins arena (ack, then fill).
const BINS: usize = 2 * HIST_BUCKETS;
/// Bytes of one cell's sums (15 cache lines).
const SUMS_BYTES: usize = SUMS * 16;
/// Bytes of one cell's bins (16 cache lines).
const BINS_BYTES: usize = BINS * 4;
// The arenas' cells are these sizes (the snapshot and the hints count in bytes).
const _: () = assert!(core::mem::size_of::<[[f64; 2]; SUMS]>() == SUMS_BYTES);
const _: () = assert!(core::mem::size_of::<hist::Bins2>() == BINS_BYTES);

/// The cells, allocated on first use (a new LP x symbol x bucket combination), indexed by the
/// scoreboard's row formula.
///
/// A cell is a 64-byte [`CellHead`] (pushed when the cell is created) plus its sums and histogram bins,
/// which live in two zero-initialised arenas reserved for `max_cells` up front (anonymous
/// mappings with transparent huge pages requested): the kernel hands out zero pages, so creating
/// a cell writes one cache line instead of zeroing and copying 2 KiB, only the pages of cells in use
/// are ever touched, and random cell accesses mostly hit the TLB. Each cell's sums and bins start
/// on a 64-byte boundary.
#[derive(Debug, Clone)]
pub struct Stats {
    index: Vec<u32>,
    heads: Vec<CellHead>,
    sums: Arena<[f64; 2], SUMS>,
    bins: Arena<[f32; 2], HIST_BUCKETS>,
    /// Each cell's last row quantiles, valid where its header's `quant_fresh` says (derived
    /// state: a new or restored header says none). A row after events that left a histogram
    /// alone (markouts, cancels, terminal accounting) takes its quantiles from here instead of
    /// scanning its bins.
    quants: Vec<RowQuantiles>,
    /// Test switch: every row scans (the plain computation the cache must equal).
    #[cfg(test)]
    pub(crate) quant_cache_off: bool,
    keys: Vec<RowKey>,
    max_cells: usize,
    /// Cell table full: updates for new combinations dropped.
    pub cells_full: u64,
    /// Symbol slots (the all-symbols slot is `max_symbols`).
    pub max_symbols: u32,
    /// Size buckets (the all-sizes slot is `n_buckets`).
    pub n_buckets: u8,
    /// LPs.
    pub max_lps: u16,
    /// Also keep the (all symbols, one size bucket) rows.
    pub bucket_totals: bool,
    /// The last complete [`Stats::fan_out`]: `(lp, sym or MAX, bucket or MAX, bucket_totals)`
    /// and its ids (cells are never removed, so they stay valid). Several observations of one
    /// event feed the same cells.
    fan_cache: ((u16, u32, u8, bool), [u32; 4], usize),
}

impl Stats {
    /// Room for the given dimensions; at most `max_cells` cells are ever created.
    pub fn new(max_symbols: u32, n_buckets: u8, max_lps: u16, max_cells: usize) -> Self {
        let n_rows = (max_symbols as usize + 1) * (n_buckets as usize + 1) * max_lps as usize;
        // Zeroed arenas: virtual memory up front, pages touched only as cells are created.
        let sums = Arena::new(max_cells);
        let bins = Arena::new(max_cells);
        Self {
            index: vec![NONE; n_rows],
            // Reserved up front so that new cells never move the others.
            heads: Vec::with_capacity(max_cells),
            sums,
            bins,
            quants: Vec::with_capacity(max_cells),
            #[cfg(test)]
            quant_cache_off: false,
            keys: Vec::with_capacity(max_cells),
            max_cells,
            cells_full: 0,
            max_symbols,
            n_buckets,
            max_lps,
            bucket_totals: true,
            fan_cache: ((0, u32::MAX, u8::MAX, false), [0; 4], usize::MAX),
        }
    }

    /// Makes the storage of the first `cells` cells resident now (see
    /// [`crate::engine::EngineConfig::prefault_cells`]); results are unchanged.
    pub fn prefault(&mut self, cells: usize) {
        let cells = cells.min(self.max_cells);
        self.sums.prefault(cells);
        self.bins.prefault(cells);
    }

    /// The scoreboard row index of a key.
    #[inline]
    pub fn row_index(&self, k: RowKey) -> usize {
        (k.sym as usize * (self.n_buckets as usize + 1) + k.bucket as usize) * self.max_lps as usize
            + k.lp as usize
    }

    /// The cell of `k`, creating it when new (`None` when the cell table is full or the key is out
    /// of range).
    #[inline]
    pub fn cell_id(&mut self, k: RowKey) -> Option<u32> {
        if k.sym > self.max_symbols || k.bucket > self.n_buckets || k.lp >= self.max_lps {
            return None;
        }
        let r = self.row_index(k);
        let id = self.index[r];
        if id != NONE {
            return Some(id);
        }
        if self.heads.len() >= self.max_cells {
            self.cells_full += 1;
            return None;
        }
        let id = self.heads.len() as u32;
        // Its sums and bins are still the arenas' zeros: nothing to write.
        self.heads.push(CellHead::new());
        self.quants.push(RowQuantiles::default());
        self.keys.push(k);
        self.index[r] = id;
        Some(id)
    }

    /// The id of the cell of `k`, if it exists.
    #[inline]
    pub fn find_id(&self, k: RowKey) -> Option<u32> {
        if k.sym > self.max_symbols || k.bucket > self.n_buckets || k.lp >= self.max_lps {
            return None;
        }
        let id = self.index[self.row_index(k)];
        (id != NONE).then_some(id)
    }

    /// The cell of `k`, if it exists.
    #[inline]
    pub fn find(&self, k: RowKey) -> Option<CellRef<'_>> {
        self.find_id(k).map(|id| self.cell(id))
    }

    /// The cells a per-order observation updates: (symbol, bucket), (symbol, all sizes),
    /// (all symbols, bucket) when `bucket_totals`, (all symbols, all sizes). A missing bucket or symbol skips the rows
    /// that need it. Returns the ids and how many there are.
    #[inline]
    pub fn fan_out(&mut self, lp: u16, sym: Option<u32>, bucket: Option<u8>) -> ([u32; 4], usize) {
        let key = (
            lp,
            sym.unwrap_or(u32::MAX),
            bucket.unwrap_or(u8::MAX),
            self.bucket_totals,
        );
        if self.fan_cache.0 == key && self.fan_cache.2 != usize::MAX {
            return (self.fan_cache.1, self.fan_cache.2);
        }
        let (out, n, complete) = self.fan_out_uncached(lp, sym, bucket);
        // Only a fan-out that created or found every cell is remembered: a dropped cell (table
        // full) must be retried (and counted) every time.
        self.fan_cache = (key, out, if complete { n } else { usize::MAX });
        (out, n)
    }

    /// The (symbol, bucket) slots of [`Stats::fan_out`], in creation order, and how many.
    #[inline(always)]
    fn fan_slots(&self, sym: Option<u32>, bucket: Option<u8>) -> ([(u32, u8); 4], usize) {
        let all_s = self.max_symbols;
        let all_b = self.n_buckets;
        let mut slots = [(all_s, all_b); 4];
        let mut tried = 0;
        if let Some(s) = sym {
            if let Some(b) = bucket {
                slots[tried] = (s, b);
                tried += 1;
            }
            slots[tried] = (s, all_b);
            tried += 1;
        }
        if let Some(b) = bucket.filter(|_| self.bucket_totals) {
            slots[tried] = (all_s, b);
            tried += 1;
        }
        // (all symbols, all sizes): already in place.
        (slots, tried + 1)
    }

    /// Asks for the lines an update of the existing cells of [`Stats::fan_out`]`(lp, sym,
    /// bucket)` touches: each cell's header and the sums lines `lines` (line `l` holds sums
    /// `4l..4l + 4`, see [`ix`]). Creates nothing, changes nothing: a hint, issued before the
    /// work that needs the lines so that their misses overlap instead of following each other.
    /// `bins_line`: also that line of the histogram bins (8 interleaved buckets a line).
    ///
    /// Returns the cells when every one exists: what `fan_out(lp, sym, bucket)` returns as
    /// long as no cell is created in between (cells are never removed), for
    /// [`Stats::fan_out_found`]. Always inlined: out of line it cost more than the second
    /// lookup it saves (and the markout hints, which drop the result, then compute none).
    #[inline(always)]
    pub fn prefetch_fan(
        &self,
        lp: u16,
        sym: Option<u32>,
        bucket: Option<u8>,
        lines: &[usize],
        bins_line: Option<usize>,
    ) -> Option<([u32; 4], usize)> {
        if lp >= self.max_lps {
            return None;
        }
        let bins = self.bins.addr(0);
        let (slots, n) = self.fan_slots(sym, bucket);
        let base = self.sums.addr(0);
        let mut out = [0u32; 4];
        let mut all = true;
        for (&(s, b), o) in slots[..n].iter().zip(&mut out) {
            let Some(id) = self.find_id(RowKey {
                sym: s,
                bucket: b,
                lp,
            }) else {
                all = false;
                continue;
            };
            *o = id;
            let i = id as usize;
            if let Some(h) = self.heads.get(i) {
                crate::prefetch::line(h);
            }
            let sums = base.wrapping_add(i * SUMS_BYTES);
            for &l in lines {
                crate::prefetch::line(sums.wrapping_add(64 * l));
            }
            if let Some(l) = bins_line {
                crate::prefetch::line(bins.wrapping_add(i * BINS_BYTES + 64 * l));
            }
        }
        all.then_some((out, n))
    }

    /// [`Stats::fan_out`] when [`Stats::prefetch_fan`] found every cell (`found`, its result)
    /// and no cell was created since: the same cells, and the same remembered fan-out (what
    /// `fan_out` leaves in `fan_cache` after a complete fan-out), without looking them up again.
    #[inline]
    pub fn fan_out_found(
        &mut self,
        lp: u16,
        sym: Option<u32>,
        bucket: Option<u8>,
        found: ([u32; 4], usize),
    ) -> ([u32; 4], usize) {
        let key = (
            lp,
            sym.unwrap_or(u32::MAX),
            bucket.unwrap_or(u8::MAX),
            self.bucket_totals,
        );
        #[cfg(debug_assertions)]
        {
            let (slots, n) = self.fan_slots(sym, bucket);
            debug_assert_eq!(n, found.1, "fan-out size");
            for (&(s, b), &id) in slots[..n].iter().zip(&found.0) {
                let k = RowKey {
                    sym: s,
                    bucket: b,
                    lp,
                };
                debug_assert_eq!(self.find_id(k), Some(id), "fan-out cell");
            }
        }
        self.fan_cache = (key, found.0, found.1);
        found
    }

    /// Asks for the row-index lines [`Stats::fan_out`]`(lp, sym, bucket)` reads (the stage
    /// before [`Stats::prefetch_fan`], whose addresses they hold). A hint.
    #[inline]
    pub fn prefetch_fan_index(&self, lp: u16, sym: Option<u32>, bucket: Option<u8>) {
        if lp >= self.max_lps {
            return;
        }
        let (slots, n) = self.fan_slots(sym, bucket);
        for &(s, b) in &slots[..n] {
            let r = self.row_index(RowKey {
                sym: s,
                bucket: b,
                lp,
            });
            if let Some(x) = self.index.get(r) {
                crate::prefetch::line(x);
            }
        }
    }

    fn fan_out_uncached(
        &mut self,
        lp: u16,
        sym: Option<u32>,
        bucket: Option<u8>,
    ) -> ([u32; 4], usize, bool) {
        // The (symbol, bucket) slots in creation order, then one loop over them (one inlined
        // `cell_id`, not one call per slot).
        let (slots, tried) = self.fan_slots(sym, bucket);
        let mut out = [0u32; 4];
        let mut n = 0;
        for &(s, b) in &slots[..tried] {
            if let Some(id) = self.cell_id(RowKey {
                sym: s,
                bucket: b,
                lp,
            }) {
                out[n] = id;
                n += 1;
            }
        }
        (out, n, n == tried)
    }

    /// A cell by id.
    #[inline(always)]
    pub fn cell(&self, id: u32) -> CellRef<'_> {
        let i = id as usize;
        let h = &self.heads[i];
        CellRef {
            fast: h.fast(),
            slow: h.slow(),
            sums: self.sums.get(i),
            ack: h.ack(),
            bins: self.bins.get(i),
            fill: h.fill(),
            n_orders: h.n_orders,
            n_fills: h.n_fills,
            n_price_skipped: h.n_price_skipped,
        }
    }
    /// A cell by id, mutably.
    #[inline(always)]
    pub fn cell_mut(&mut self, id: u32) -> CellMut<'_> {
        let i = id as usize;
        CellMut {
            head: &mut self.heads[i],
            sums: self.sums.get_mut(i),
            bins: self.bins.get_mut(i),
        }
    }
    /// Asks for the lines a published row of cell `id` reads first: its header, the sums of
    /// lines 0-3 (see [`ix`]) and horizon `h`'s markout line. A hint; an unknown id is ignored.
    #[inline]
    pub fn prefetch_row(&self, id: u32, h: usize) {
        let i = id as usize;
        if i >= self.heads.len() {
            return;
        }
        crate::prefetch::line(&self.heads[i]);
        let sums = self.sums.addr(i);
        for line in [0, 1, 2, 3, (ix::MO + 4 * h.min(MAX_HORIZONS - 1)) / 4] {
            crate::prefetch::line(sums.wrapping_add(64 * line));
        }
    }
    /// Asks for the lines a row's quantiles read: the cached quantiles, and the histogram lines a
    /// scan reads (the used range of both lanes) unless both are cached (reads the header, so
    /// call it a step after [`Stats::prefetch_row`]).
    #[inline(always)]
    pub fn prefetch_bins(&self, id: u32) {
        let i = id as usize;
        let Some(h) = self.heads.get(i) else {
            return;
        };
        // The row reads (or writes) its cached quantiles; it scans only the bins of a
        // histogram that changed.
        if let Some(q) = self.quants.get(i) {
            crate::prefetch::line(q);
        }
        if h.quant_fresh == QUANT_ACK | QUANT_FILL {
            return;
        }
        let lo = h.ack_start.min(h.fill_start) as usize;
        let hi = (h.ack_end.max(h.fill_end) as usize).min(HIST_BUCKETS);
        if lo >= hi {
            return;
        }
        let bins = self.bins.addr(i);
        // 8 interleaved buckets per line.
        for line in lo / 8..=(hi - 1) / 8 {
            crate::prefetch::line(bins.wrapping_add(64 * line));
        }
    }
    /// Takes cell `id`'s row state for a publication: clears its dirty flag and returns which
    /// of its histograms' quantiles the cache holds ([`CellHead::quant_fresh`]) with the cached
    /// values, marking both fresh: the caller computes the row with
    /// [`CellRef::row_quantiles_cached`] and stores the result with [`Stats::cache_quantiles`].
    #[inline(always)]
    pub fn take_row(&mut self, id: u32) -> (u8, RowQuantiles) {
        let i = id as usize;
        let h = &mut self.heads[i];
        h.dirty = false;
        let fresh = h.quant_fresh;
        h.quant_fresh = QUANT_ACK | QUANT_FILL;
        #[cfg(test)]
        let fresh = if self.quant_cache_off { 0 } else { fresh };
        (fresh, self.quants[i])
    }
    /// Stores cell `id`'s row quantiles (see [`Stats::take_row`]).
    #[inline(always)]
    pub fn cache_quantiles(&mut self, id: u32, q: RowQuantiles) {
        self.quants[id as usize] = q;
    }
    /// A cell's header, mutably.
    #[inline]
    pub fn head_mut(&mut self, id: u32) -> &mut CellHead {
        &mut self.heads[id as usize]
    }
    /// The key of a cell.
    #[inline]
    pub fn key(&self, id: u32) -> RowKey {
        self.keys[id as usize]
    }
    /// Number of cells.
    pub fn len(&self) -> usize {
        self.heads.len()
    }
    /// Whether there is no cell.
    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }
    /// The pool prior: ratio of the summed slow sums of every LP's all-symbols, all-sizes cell.
    pub fn pool_priors(&self, now: Stamps, fallback: &Priors) -> Priors {
        let mut acc = PoolAccumulator::default();
        for lp in 0..self.max_lps {
            if let Some(c) = self.find(RowKey {
                sym: self.max_symbols,
                bucket: self.n_buckets,
                lp,
            }) {
                acc.add_ref(&c, now);
            }
        }
        acc.priors(fallback)
    }
}

// ---- snapshots (lpscore::journal::snapshot): the cells in creation order, their sums and bins
// bit for bit, and the row index.
use crate::journal::codec::{Dec, DecodeError, Enc};

fn put_head(e: &mut Enc, h: &CellHead) {
    e.i64(h.fast_base);
    e.i64(h.slow_base);
    e.u64(h.n_orders);
    e.u64(h.n_fills);
    e.u64(h.n_price_skipped);
    e.f64(h.ack_total);
    e.f64(h.fill_total);
    e.bool(h.fast_live);
    e.bool(h.slow_live);
    e.bool(h.dirty);
    e.u8(h.ack_end);
    e.u8(h.ack_start);
    e.u8(h.fill_end);
    e.u8(h.fill_start);
}

fn get_head(d: &mut Dec<'_>) -> Result<CellHead, DecodeError> {
    let mut h = CellHead::new();
    h.fast_base = d.i64()?;
    h.slow_base = d.i64()?;
    h.n_orders = d.u64()?;
    h.n_fills = d.u64()?;
    h.n_price_skipped = d.u64()?;
    h.ack_total = d.f64()?;
    h.fill_total = d.f64()?;
    h.fast_live = d.bool()?;
    h.slow_live = d.bool()?;
    h.dirty = d.bool()?;
    h.ack_end = d.u8()?;
    h.ack_start = d.u8()?;
    h.fill_end = d.u8()?;
    h.fill_start = d.u8()?;
    Ok(h)
}

impl Stats {
    /// Writes the dimensions (checked on restore), every cell (key, head, sums, bins) in id
    /// order, and the counters. The row index is rebuilt from the keys.
    pub fn snap_write(&self, e: &mut Enc) {
        e.tag(b"STAT");
        e.u32(self.max_symbols);
        e.u8(self.n_buckets);
        e.u16(self.max_lps);
        e.usize(self.max_cells);
        e.bool(self.bucket_totals);
        e.u64(self.cells_full);
        let n = self.heads.len();
        e.usize(n);
        for i in 0..n {
            let k = self.keys[i];
            e.u32(k.sym);
            e.u8(k.bucket);
            e.u16(k.lp);
            put_head(e, &self.heads[i]);
        }
        e.raw(&self.sums.bytes()[..n * SUMS_BYTES]);
        e.raw(&self.bins.bytes()[..n * BINS_BYTES]);
        let ((lp, sym, b, t), ids, len) = self.fan_cache;
        e.u16(lp);
        e.u32(sym);
        e.u8(b);
        e.bool(t);
        for id in ids {
            e.u32(id);
        }
        e.usize(len);
    }

    /// Restores what [`Stats::snap_write`] wrote into fresh statistics of the same dimensions
    /// (no cell created yet).
    pub fn snap_read(&mut self, d: &mut Dec<'_>) -> Result<(), DecodeError> {
        d.tag(b"STAT", "statistics section missing")?;
        let dims_ok = d.u32()? == self.max_symbols
            && d.u8()? == self.n_buckets
            && d.u16()? == self.max_lps
            && d.usize()? == self.max_cells;
        d.check(
            dims_ok,
            "statistics dimensions differ from the configuration's",
        )?;
        d.check(self.heads.is_empty(), "statistics already hold cells")?;
        self.bucket_totals = d.bool()?;
        self.cells_full = d.u64()?;
        let n = d.len(self.max_cells)?;
        for i in 0..n {
            let k = RowKey {
                sym: d.u32()?,
                bucket: d.u8()?,
                lp: d.u16()?,
            };
            let in_range =
                k.sym <= self.max_symbols && k.bucket <= self.n_buckets && k.lp < self.max_lps;
            d.check(in_range, "cell key out of range")?;
            let r = self.row_index(k);
            d.check(self.index[r] == NONE, "cell key repeated")?;
            self.index[r] = i as u32;
            self.keys.push(k);
            self.heads.push(get_head(d)?);
            // Derived: the restored header says no quantile is cached.
            self.quants.push(RowQuantiles::default());
        }
        let sums = d.take(n * SUMS_BYTES)?;
        self.sums.bytes_mut()[..n * SUMS_BYTES].copy_from_slice(sums);
        let bins = d.take(n * BINS_BYTES)?;
        self.bins.bytes_mut()[..n * BINS_BYTES].copy_from_slice(bins);
        let key = (d.u16()?, d.u32()?, d.u8()?, d.bool()?);
        let mut ids = [0u32; 4];
        for id in ids.iter_mut() {
            *id = d.u32()?;
        }
        let len = d.usize()?;
        let valid = len == usize::MAX || (len <= 4 && ids[..len].iter().all(|&i| (i as usize) < n));
        d.check(valid, "statistics cache out of range")?;
        self.fan_cache = (key, ids, len);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_index_matches_layout() {
        // n_rows = (max_symbols + 1) * (n_buckets + 1) * max_lps; index = (s * (nb + 1) + b) * L + l
        let st = Stats::new(10, 8, 4, 100);
        assert_eq!(
            st.row_index(RowKey {
                sym: 0,
                bucket: 0,
                lp: 0
            }),
            0
        );
        assert_eq!(
            st.row_index(RowKey {
                sym: 2,
                bucket: 3,
                lp: 1
            }),
            (2 * 9 + 3) * 4 + 1
        );
        assert_eq!(
            st.row_index(RowKey {
                sym: 10,
                bucket: 8,
                lp: 3
            }),
            11 * 9 * 4 - 1
        );
    }

    #[test]
    fn prefetched_cells_are_the_fan_out() {
        // `prefetch_fan` returns cells only when all exist, and then exactly `fan_out`'s, in
        // its order; `fan_out_found` leaves the fan-out remembered as `fan_out` does.
        for totals in [true, false] {
            let mut st = Stats::new(6, 3, 4, 40);
            st.bucket_totals = totals;
            let syms = [None, Some(0), Some(2), Some(5)];
            let buckets = [None, Some(0), Some(2)];
            // Some cells first (several fan-outs share their wider cells).
            st.fan_out(1, Some(2), Some(0));
            st.fan_out(1, Some(0), None);
            st.fan_out(2, None, Some(2));
            let mut seen_some = 0;
            let mut seen_none = 0;
            for round in 0..3 {
                for lp in 0..5u16 {
                    for &s in &syms {
                        for &b in &buckets {
                            let pre = st.prefetch_fan(lp, s, b, &[0, 1], Some(0));
                            let cells = st.len();
                            let full = st.cells_full;
                            let got = st.fan_out(lp, s, b);
                            if let Some(f) = pre {
                                seen_some += 1;
                                assert_eq!(got, f, "lp {lp} sym {s:?} bucket {b:?}");
                                assert_eq!(st.len(), cells, "nothing created");
                                let remembered = st.fan_cache;
                                st.fan_cache = ((9, 9, 9, false), [7; 4], 3);
                                assert_eq!(st.fan_out_found(lp, s, b, f), f);
                                assert_eq!(st.fan_cache, remembered);
                            } else {
                                seen_none += 1;
                                assert!(
                                    lp >= st.max_lps || st.len() > cells || st.cells_full > full,
                                    "a cell was missing: lp {lp} sym {s:?} bucket {b:?} round {round}"
                                );
                            }
                        }
                    }
                }
            }
            assert!(seen_some > 0 && seen_none > 0, "{seen_some} {seen_none}");
        }
    }

    #[test]
    fn fan_out_and_capacity() {
        let mut st = Stats::new(10, 8, 4, 5);
        let (ids, n) = st.fan_out(1, Some(2), Some(3));
        assert_eq!(n, 4);
        assert_eq!(
            st.key(ids[0]),
            RowKey {
                sym: 2,
                bucket: 3,
                lp: 1
            }
        );
        assert_eq!(
            st.key(ids[3]),
            RowKey {
                sym: 10,
                bucket: 8,
                lp: 1
            }
        );
        let (again, _) = st.fan_out(1, Some(2), Some(3));
        assert_eq!(ids, again);
        let (_, n) = st.fan_out(1, Some(2), None);
        assert_eq!(n, 2);
        let (_, n) = st.fan_out(2, None, None);
        assert_eq!(n, 1); // the 5th cell
        let (_, n) = st.fan_out(3, None, None);
        assert_eq!(n, 0);
        assert_eq!(st.cells_full, 1);
        assert!(
            st.cell_id(RowKey {
                sym: 0,
                bucket: 0,
                lp: 9
            })
            .is_none()
        );
    }
}

#[cfg(test)]
mod quant_cache_tests {
    use super::*;
    use proptest::prelude::*;

    /// One step of a cell's life: a latency (ack or fill) at a time, a publication, or a
    /// snapshot round trip.
    #[derive(Debug, Clone)]
    enum Op {
        Latency {
            cell: usize,
            fill: bool,
            ns: u64,
            dt: u64,
        },
        Publish {
            cell: usize,
        },
        Restore,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..3usize, any::<bool>(), 0..40u32, 0..4u8, 0..1000u64).prop_map(
                |(cell, fill, oct, jump, ms)| Op::Latency {
                    cell,
                    fill,
                    // Every octave of the histogram (and bucket 0), so p50 and p99 move.
                    ns: (1u64 << (oct + 6)) + ms * 7919,
                    // Mostly small steps; sometimes a jump of many fast half-lives, which
                    // moves the fast window's base and rescales the bins.
                    dt: match jump {
                        0 => 200 * SEC,
                        _ => ms * 1_000_000,
                    },
                }
            ),
            3 => (0..3usize).prop_map(|cell| Op::Publish { cell }),
            1 => Just(Op::Restore),
        ]
    }

    const SEC: u64 = 1_000_000_000;

    fn stamps(t: u64) -> Stamps {
        Stamps {
            fast: HalfLife { ns: 2 * SEC, t0: 0 }.stamp(t),
            slow: HalfLife {
                ns: 3600 * SEC,
                t0: 0,
            }
            .stamp(t),
        }
    }

    fn restored(st: &Stats) -> Stats {
        let mut e = Enc::new();
        st.snap_write(&mut e);
        let mut fresh = Stats::new(st.max_symbols, st.n_buckets, st.max_lps, st.max_cells);
        fresh
            .snap_read(&mut Dec::new(&e.buf))
            .expect("snapshot reads back");
        fresh
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// The publication path's quantiles (cache where `quant_fresh` says, scan otherwise)
        /// equal a plain scan of the cell at every publication, through latencies in either
        /// histogram, base moves (rescaled bins) and snapshot restores.
        #[test]
        fn cached_row_quantiles_equal_the_scan(ops in proptest::collection::vec(op(), 1..120)) {
            let mut st = Stats::new(4, 2, 2, 8);
            let ids: Vec<u32> = (0..3u32)
                .map(|s| st.cell_id(RowKey { sym: s, bucket: 0, lp: 1 }).expect("room"))
                .collect();
            let mut t = SEC;
            let (mut hits, mut scans) = (0, 0);
            for op in ops {
                match op {
                    Op::Latency { cell, fill, ns, dt } => {
                        t += dt;
                        let mut c = st.cell_mut(ids[cell]);
                        let w = c.prepare_weights(stamps(t));
                        c.add_latency_w(fill, ns, w);
                    }
                    Op::Publish { cell } => {
                        let id = ids[cell];
                        let (fresh, cached) = st.take_row(id);
                        let c = st.cell(id);
                        let got = c.row_quantiles_cached(fresh, cached);
                        let want = c.row_quantiles();
                        prop_assert_eq!(got, want, "fresh {}", fresh);
                        st.cache_quantiles(id, got);
                        if fresh != 0 {
                            hits += 1;
                        } else {
                            scans += 1;
                        }
                    }
                    Op::Restore => st = restored(&st),
                }
            }
            // (Not asserted per case: some cases publish nothing.)
            let _ = (hits, scans);
        }
    }

    #[test]
    fn quantile_cache_is_used_and_dropped_on_change_and_restore() {
        let mut st = Stats::new(4, 2, 2, 8);
        let id = st
            .cell_id(RowKey {
                sym: 1,
                bucket: 0,
                lp: 0,
            })
            .expect("room");
        let add = |st: &mut Stats, fill: bool, ns: u64, t: u64| {
            let mut c = st.cell_mut(id);
            let w = c.prepare_weights(stamps(t));
            c.add_latency_w(fill, ns, w);
        };
        add(&mut st, false, 1_000_000, SEC);
        add(&mut st, true, 3_000_000, SEC);
        let publish = |st: &mut Stats| {
            let (fresh, cached) = st.take_row(id);
            let q = st.cell(id).row_quantiles_cached(fresh, cached);
            assert_eq!(q, st.cell(id).row_quantiles());
            st.cache_quantiles(id, q);
            fresh
        };
        assert_eq!(publish(&mut st), 0, "a new cell caches nothing");
        assert_eq!(
            publish(&mut st),
            QUANT_ACK | QUANT_FILL,
            "unchanged: both cached"
        );
        add(&mut st, true, 9_000_000, 2 * SEC);
        assert_eq!(
            publish(&mut st),
            QUANT_ACK,
            "a fill latency drops the fill quantile"
        );
        add(&mut st, false, 9_000_000, 3 * SEC);
        assert_eq!(
            publish(&mut st),
            QUANT_FILL,
            "an ack latency drops the ack quantiles"
        );
        // A base move (many half-lives later) rescales both histograms.
        let before = st.heads[id as usize].fast_base;
        add(&mut st, false, 2_000_000, 600 * SEC);
        assert_ne!(st.heads[id as usize].fast_base, before, "the base moved");
        assert_eq!(publish(&mut st), 0, "a rescale drops both");
        assert_eq!(publish(&mut st), QUANT_ACK | QUANT_FILL);
        let mut st = restored(&st);
        assert_eq!(publish(&mut st), 0, "a restored cell caches nothing");
    }
}
